# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who holds a started container: one interface, two implementations.

- ``monitor`` (monitoring.py): a small detached process per container (monitor.py), for hosts
  whose PID 1 is not systemd (containers, CI machines, other inits).
- ``systemd`` (systemd.py): a transient unit per container that runs the OCI runtime in the
  foreground, so that systemd applies the restart policy and keeps the exit status (the log and
  the back-off between restarts are the monitor's, through monitor.py's log pipe and the unit's
  hook); chosen when systemd is PID 1 (sd_booted(3): ``/run/systemd/system`` exists).

Containers picks one per host (``choose_supervisor`` in containers.py); a started container's
record names the one that holds it (``supervisor``), so that its state is read, and it is
stopped, the way it was started. Reading a container's state is records.read_status."""

from __future__ import annotations

import os
import time

from .records import ContainerPaths

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List
    from .containers import Containers

RUN_SYSTEMD = "/run/systemd/system"
SYSTEMD = "systemd"  # the kind of systemd.SystemdSupervisor
POLL = 0.05


def systemd_booted(marker: str = RUN_SYSTEMD) -> bool:
    """Whether systemd is the init of this system, as sd_booted(3) tells."""
    return os.path.isdir(marker)


def wait_until(done: Callable[[], Any], timeout: float) -> bool:
    """Poll ``done`` until it is true or ``timeout`` seconds have passed; whether it became true."""
    deadline = time.monotonic() + timeout
    while True:
        if done():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)


class StartSteps:
    """What the engine does around a supervisor's launch (containers.py), in two parts, so that
    the second can overlap the runtime's create: ``prepare`` before the runtime reads the
    config.json (the network namespace and the /etc files it bind-mounts), ``complete(fields)``
    before the container's process runs (the rest of the network: CNI ADD, firewall rules, the
    final /etc/hosts; then ``fields`` saved in the record with ``started`` true): its actions
    are part of the launch's result."""

    def prepare(self) -> None:
        raise NotImplementedError

    def complete(self, fields: Dict[str, Any]) -> List[str]:
        raise NotImplementedError


class Supervisor:
    """The interface. ``kind`` is what the container's record keeps."""

    kind = ""

    def launch(self, containers: Containers, paths: ContainerPaths, desired: Dict[str, Any],
               steps: StartSteps) -> List[str]:
        """Run the container whose bundle is ready, and return once it runs (or has exited).
        ``steps.prepare()`` comes before the runtime creates the container, ``steps.complete``
        after or while it does and before the container's process starts."""
        raise NotImplementedError

    def halt(self, containers: Containers, paths: ContainerPaths, desired: Dict[str, Any],
             record: Dict[str, Any]) -> List[str]:
        """Stop the container for good (no restart): its stop signal, SIGKILL after its
        stop_timeout; the runtime's state of it deleted. The network is the caller's."""
        raise NotImplementedError

    def forget(self, paths: ContainerPaths, record: Dict[str, Any]) -> None:
        """Drop what the supervisor keeps of a stopped container that is being removed."""
