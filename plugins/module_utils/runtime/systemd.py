# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``systemd`` supervisor: each started container is a transient unit
(``systemd-run --unit undock-NAME``) whose main process is the OCI runtime in the foreground
(``runc run``), so that systemd holds the container directly: the restart policy is its
``Restart=`` (with ``StartLimitBurst=`` for ``on-failure:N``), the logs go to the container's
log file (``StandardOutput=append:``), the exit status is the unit's (``runc run`` exits with
the container's), and ``systemctl stop`` stops it: the stop signal is the unit's
``KillSignal=`` (runc forwards it to the container's init), SIGKILL after ``TimeoutStopSec=``.

A hook before and after each run (``ExecStartPre=``, ``ExecStopPost=``) deletes what the runtime
left of an earlier run (a runtime killed by SIGKILL leaves its container) and appends the run
to the events file that systemd_units.py reads once systemd has unloaded the unit.

Differences from the monitor: the log is not capped (systemd appends), the back-off between
restarts is a fixed RestartSec, and an exit status of 128 + the stop signal (143 for SIGTERM,
which is what a stop makes runc return) counts as a clean exit (SuccessExitStatus), so
``on-failure`` does not restart a container that ended that way."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
from typing import TYPE_CHECKING, Any, Callable, Dict, List

from ..common.fileutil import atomic_write
from .errors import ContainerError
from .options import signal_number
from .records import ContainerPaths, tail
from .supervisor import Supervisor, wait_until
from .systemd_units import read_events, read_unit_status, show, unit_name

if TYPE_CHECKING:
    from .containers import Containers

START_TIMEOUT = 30.0
COMMAND_TIMEOUT = 60
UNLOAD_WAIT = 5.0
RESTART_SEC = "200ms"
HOOK = """#!/bin/sh
# written by undock.oci: run by the systemd unit of container %(name)s before (start) and after (exit) each run
%(runtime)s --root %(root)s delete --force %(name)s >/dev/null 2>&1
echo "$1 ${EXIT_CODE:--} ${EXIT_STATUS:--} $(date -u +%%Y-%%m-%%dT%%H:%%M:%%S.%%6NZ)" >> %(events)s
"""


def restart_properties(policy: str) -> List[str]:
    """``restart_policy`` as unit settings: no, on-failure[:N], always, unless-stopped."""
    kind, dummy, count = policy.partition(":")
    if kind == "no":
        return ["Restart=no"]
    restart = "Restart=always" if kind in ("always", "unless-stopped") else "Restart=on-failure"
    if count:  # N restarts: N + 1 starts, never forgiven with time
        limit = ["StartLimitIntervalSec=infinity", "StartLimitBurst=%d" % (int(count) + 1)]
    else:
        limit = ["StartLimitIntervalSec=0"]
    return [restart, "RestartSec=" + RESTART_SEC] + limit


def _quoted(path: str) -> str:
    """A path as one word of a unit's command line."""
    return '"%s"' % path.replace("\\", "\\\\").replace('"', '\\"')


def unit_properties(paths: ContainerPaths, desired: Dict[str, Any]) -> List[str]:
    stop = signal_number(desired["stop_signal"])
    timeout_ms = max(1, int(desired["stop_timeout"]) * 1000)  # 0 would mean: no timeout at all
    return ["ExecStartPre=/bin/sh %s start" % _quoted(paths.unit_hook),
            "ExecStopPost=/bin/sh %s exit" % _quoted(paths.unit_hook),
            "StandardOutput=append:" + paths.log, "StandardError=append:" + paths.log,
            "KillSignal=%d" % stop, "TimeoutStopSec=%dms" % timeout_ms,
            "SuccessExitStatus=%s" % " ".join(sorted({"143", str(128 + stop)}))] + \
        restart_properties(desired["restart_policy"])


def systemctl(*args: str, check: bool = False, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(["systemctl"] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ContainerError("systemctl %s did not finish within %d s" % (" ".join(args), timeout)) from None
    if check and proc.returncode != 0:
        raise ContainerError("systemctl %s failed: %s" % (" ".join(args), proc.stderr.decode("utf-8", "replace").strip()))
    return proc


class SystemdSupervisor(Supervisor):
    kind = "systemd"

    def launch(self, containers: Containers, paths: ContainerPaths, desired: Dict[str, Any],
               started: Callable[[Dict[str, Any]], List[str]]) -> List[str]:
        name = paths.name
        unit = unit_name(containers.store.root, name)
        runtime = containers.runtime(desired["runtime"])
        systemctl("reset-failed", unit)  # a failed unit of an earlier start keeps the name taken
        for stale in (paths.events, paths.pid_file):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)
        hook = HOOK % {"name": shlex.quote(name), "runtime": shlex.quote(runtime.binary),
                       "root": shlex.quote(runtime.root), "events": shlex.quote(paths.events)}
        atomic_write(paths.unit_hook, hook.encode(), 0o700)
        actions = started({"supervisor": self.kind, "unit": unit})
        command = ["systemd-run", "--quiet", "--unit", unit, "--service-type=simple",
                   "--description=undock.oci container %s (store %s)" % (name, containers.store.root)]
        for setting in unit_properties(paths, desired):
            command += ["--property", setting]
        command += ["--", runtime.binary, "--root", runtime.root, "run", "--bundle", paths.bundle,
                    "--pid-file", paths.pid_file, name]
        proc = self._run_unit(command, paths)
        if proc.returncode != 0 and b"already" in proc.stderr:
            # the unit of the run just stopped, not yet unloaded by systemd's garbage collection
            wait_until(lambda: show(unit).get("LoadState") != "loaded", UNLOAD_WAIT)
            proc = self._run_unit(command, paths)
        if proc.returncode != 0:
            raise ContainerError("systemd-run of container %s failed: %s"
                                 % (name, proc.stderr.decode("utf-8", "replace").strip()))

        def ran() -> bool:  # the runtime wrote the init's pid, or the first run is over
            return os.path.exists(paths.pid_file) or bool(read_events(paths.events)[1])
        if not wait_until(ran, START_TIMEOUT):
            raise ContainerError("container %s did not start within %d s; see systemctl status %s"
                                 % (name, START_TIMEOUT, unit))
        if not os.path.exists(paths.pid_file):  # the runtime failed before the container existed
            systemctl("stop", unit)
            said = " | ".join(tail(paths.log, 3))
            raise ContainerError("container %s could not start: %s run failed (unit %s): %s"
                                 % (name, os.path.basename(desired["runtime"]), unit, said))
        actions.append("started unit %s" % unit)
        return actions

    @staticmethod
    def _run_unit(command: List[str], paths: ContainerPaths) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=COMMAND_TIMEOUT,
                                  check=False, cwd=paths.bundle)
        except subprocess.TimeoutExpired:
            raise ContainerError("systemd-run of container %s did not finish within %d s"
                                 % (paths.name, COMMAND_TIMEOUT)) from None

    def halt(self, containers: Containers, paths: ContainerPaths, desired: Dict[str, Any],
             record: Dict[str, Any]) -> List[str]:
        name = paths.name
        unit = record.get("unit") or unit_name(containers.store.root, name)
        actions = []
        shown = show(unit)
        if shown.get("LoadState") == "loaded" and shown.get("ActiveState") not in ("inactive", "failed"):
            was_running = read_unit_status(paths, record)["state"] == "running"
            systemctl("stop", unit, check=True, timeout=desired["stop_timeout"] + COMMAND_TIMEOUT)
            exits = read_events(paths.events)[1]
            if was_running and exits and exits[-1][0] == "killed" and exits[-1][1] == "KILL":
                actions.append("killed container %s: it did not stop within %d s of %s"
                               % (name, desired["stop_timeout"], desired["stop_signal"]))
            actions.append("stopped container %s (unit %s)" % (name, unit))
        systemctl("reset-failed", unit)
        containers.runtime(desired["runtime"]).delete(name)
        return actions

    def forget(self, paths: ContainerPaths, record: Dict[str, Any]) -> None:
        if record.get("unit"):
            systemctl("reset-failed", record["unit"])
