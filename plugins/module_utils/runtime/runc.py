# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OCI runtime command line (runc, or crun: the same verbs): state, kill, delete.

``create`` and ``start`` are run by the monitor that holds the container (monitor.py).
Every command has a timeout, and its runtime root lives under the engine's run_root
(tmpfs), so runtime state vanishes at boot as the containers do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any, Dict, List, Optional

from .errors import RuntimeCommandError

COMMAND_TIMEOUT = 60


def find_runtime(name: str) -> str:
    """The absolute path of ``runc``, ``crun`` or a given path."""
    path = name if os.path.isabs(name) else shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeCommandError("the OCI runtime %r is not installed (Debian and RHEL package %s)"
                                  % (name, os.path.basename(name)))
    return path


class OCIRuntime:
    def __init__(self, name: str, root: str):
        self.name = name
        self.binary = find_runtime(name)
        self.root = root

    def _run(self, args: List[str], check: bool = True) -> subprocess.CompletedProcess:
        command = [self.binary, "--root", self.root] + args
        try:
            proc = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=COMMAND_TIMEOUT,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeCommandError("%s %s did not finish within %d s" % (self.name, " ".join(args),
                                                                            COMMAND_TIMEOUT)) from None
        if check and proc.returncode != 0:
            raise RuntimeCommandError("%s %s failed: %s" % (self.name, " ".join(args),
                                                            proc.stderr.decode("utf-8", "replace").strip()))
        return proc

    def state(self, container_id: str) -> Optional[Dict[str, Any]]:
        """The runtime's state document, None when it knows no such container."""
        if not os.path.isdir(os.path.join(self.root, container_id)):
            return None
        proc = self._run(["state", container_id], check=False)
        if proc.returncode != 0:
            return None
        try:
            return json.loads(proc.stdout)
        except ValueError:
            return None

    def kill(self, container_id: str, signal_name: str) -> bool:
        """Send a signal to the container's init; False when it is not running."""
        return self._run(["kill", container_id, signal_name.replace("SIG", "", 1)], check=False).returncode == 0

    def delete(self, container_id: str) -> None:
        """Remove the container (killing what is left of it); nothing known is no error."""
        if os.path.isdir(os.path.join(self.root, container_id)):
            self._run(["delete", "--force", container_id], check=False)
