# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OCI runtime command line (runc, or crun: the same verbs): state, kill, delete, update.

``create`` and ``start`` are run by the monitor that holds the container (monitor.py).
Every command has a timeout, and its runtime root lives under the engine's run_root
(tmpfs), so runtime state vanishes at boot as the containers do."""

from __future__ import annotations

import json
import os

from ..common.fileutil import atomic_write, makedirs_private
from ..common.tools import find_tool
from .errors import RuntimeCommandError
from .options import signal_number

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional
    import subprocess

COMMAND_TIMEOUT = 60


def find_runtime(name: str) -> str:
    """The absolute path of ``runc``, ``crun`` or a given path."""
    path = name if os.path.isabs(name) else find_tool(name)
    if not path or not os.access(path, os.X_OK):
        raise RuntimeCommandError("the OCI runtime %r is not installed (Debian and RHEL package %s)"
                                  % (name, os.path.basename(name)))
    return path


#: cgroup v2 beside v1 controllers ("hybrid"): crun refuses it once v2 has a controller
UNIFIED = "/sys/fs/cgroup/unified"
#: run crun where the hybrid v2 hierarchy is not mounted: it sees cgroup v1 alone, and runs
HYBRID_WRAPPER = """#!/bin/sh
# written by undock.oci: %(crun)s refuses hybrid cgroups whose v2 part has controllers
exec %(unshare)s --mount --propagation private -- /bin/sh -c \
    'umount %(unified)s 2>/dev/null; exec "$0" "$@"' %(crun)s "$@"
"""


def hybrid_with_v2_controllers(unified: str = UNIFIED) -> bool:
    """Whether cgroups are v1 with a v2 hierarchy at ``unified`` that holds controllers
    (hugetlb, on the Debian 12 machines this runs on)."""
    try:
        with open(os.path.join(unified, "cgroup.controllers"), "rb") as handle:
            controllers = handle.read(4096).strip()
    except OSError:
        return False
    return bool(controllers) and os.path.ismount(unified)


def crun_command(binary: str, directory: str) -> str:
    """``binary`` (crun), or on hybrid cgroups with v2 controllers a wrapper under
    ``directory`` that runs it in a private mount namespace without the v2 hierarchy.

    crun 1.8.1 checks /sys/fs/cgroup/unified/cgroup.controllers in libcrun_cgroup_enter before
    it looks at the cgroup manager, and fails with "cgroups in hybrid mode not supported, drop
    all controllers from cgroupv2" whatever --cgroup-manager (disabled, cgroupfs, systemd) or
    --systemd-cgroup says. Without that mount in its view it detects cgroup v1 and puts the
    container in the v1 controllers, as runc does here; only v2's hugetlb is not used. Every
    crun command (create, start, state, kill, delete, exec) goes through the same wrapper, so
    they all agree on the cgroup mode."""
    if os.path.basename(binary) != "crun" or not hybrid_with_v2_controllers():
        return binary
    wrapper = os.path.join(directory, "crun")
    import shlex  # here: only crun on a hybrid host needs it
    text = HYBRID_WRAPPER % {"crun": shlex.quote(binary), "unified": UNIFIED,
                             "unshare": shlex.quote(find_tool("unshare") or "/usr/bin/unshare")}
    try:
        with open(wrapper, "r") as handle:
            if handle.read() == text:
                return wrapper
    except OSError:
        pass
    makedirs_private(directory)
    atomic_write(wrapper, text.encode(), 0o700)
    return wrapper


class OCIRuntime:
    def __init__(self, name: str, root: str):
        self.name = name
        self.binary = crun_command(find_runtime(name), os.path.join(os.path.dirname(root), "bin"))
        self.root = root

    def _run(self, args: List[str], check: bool = True) -> subprocess.CompletedProcess:
        command = [self.binary, "--root", self.root] + args
        import subprocess  # here: a start runs the runtime from the monitor, and the module costs every start
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
        # a number: runc and crun know no names for the real-time signals (SIGRTMIN+3 for systemd)
        return self._run(["kill", container_id, str(signal_number(signal_name))], check=False).returncode == 0

    def delete(self, container_id: str) -> None:
        """Remove the container (killing what is left of it); nothing known is no error."""
        if os.path.isdir(os.path.join(self.root, container_id)):
            self._run(["delete", "--force", container_id], check=False)

    def update(self, container_id: str, arguments: List[str]) -> None:
        """Change the cgroup limits of a created or running container (``arguments``:
        limits.update_arguments); RuntimeCommandError, with what the runtime said, when it refuses."""
        self._run(["update"] + list(arguments) + [container_id])
