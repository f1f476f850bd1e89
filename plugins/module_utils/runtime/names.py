# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container names: one rule, since a name is also a directory, a CNI container id and a
runtime id."""

from __future__ import annotations

import re

from .errors import ContainerError

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ContainerError("container name %r is invalid: use 1 to 128 letters, digits, '_', '.' or '-', "
                             "starting with a letter or digit" % (name,))
    return name
