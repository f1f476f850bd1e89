# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding the programs the engine runs (runc, mount, iptables, unshare): what shutil.which
answers for a plain name, without importing shutil (a container start would pay for it), and
then the system directories, which the PATH a module runs with may lack (sbin)."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Optional

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def find_tool(name: str) -> Optional[str]:
    """The absolute path of the program ``name``, from PATH first; None if it is nowhere."""
    for path in (os.environ.get("PATH", os.defpath), SYSTEM_PATH):
        for directory in path.split(os.pathsep):
            candidate = os.path.join(directory or os.curdir, name)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return os.path.abspath(candidate)
    return None
