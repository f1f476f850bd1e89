# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``systemd`` supervisor: each started container is a transient unit
(``systemd-run --unit undock-NAME``) that runs the OCI runtime in the foreground (``runc run``),
so that systemd holds the container directly: the restart policy is its ``Restart=`` (with
``StartLimitBurst=`` for ``on-failure:N``), the exit status is the unit's (``runc run`` exits
with the container's), and ``systemctl stop`` stops it: the stop signal is the unit's
``KillSignal=`` (sent to the unit's control group, so runc receives it and forwards it to the
container's init), SIGKILL after ``TimeoutStopSec=``.

The unit's main process is monitor.py in its ``--log-pipe`` mode, copied to the run directory
as the monitor supervisor copies it: it runs ``runc run`` with its output (the container's
stdout and stderr, and the runtime's own errors) going to the container's log file with the
monitor's cap (``log_max``, 10 MiB: the full file becomes ``container.log.1``), and ends as
runc ended (its exit status, or killed by the same signal). So the log is the same file,
capped the same way, on both paths, and oci_container_info reads its tail the same way. The
journal was the other choice: journald caps it, but for the whole host, not per container, it
keeps a removed container's output under a name the next container of that name reuses, and
reading it takes a ``journalctl`` process for every container listed.

A hook before and after each run (``ExecStartPre=``, ``ExecStopPost=``) deletes what the runtime
left of an earlier run (a runtime killed by SIGKILL leaves its container), appends the run to
the events file that systemd_units.py reads once systemd has unloaded the unit, and spaces
restarts as the monitor does: systemd 252 (Debian 12) has no ``RestartSteps=`` (254), so
``RestartSec=`` is the monitor's first delay (0.1 s) and the hook, before a restart, sleeps the
rest of the monitor's doubling back-off (0.2, 0.4 ... 30 s), reset after a run of 10 s or more;
the delay it is at sits in the ``backoff`` file of the run directory. While it sleeps, the
unit is ``activating (start-pre)`` and the container reads as ``restarting``. ``always`` and
``unless-stopped`` restart without limit, as with the monitor.

One difference from the monitor remains: an exit status of 128 + the stop signal (143 for
SIGTERM, which is what a stop makes runc return) counts as a clean exit (SuccessExitStatus),
so ``on-failure`` does not restart a container that ended that way."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys

from ..common.fileutil import atomic_write
from .errors import ContainerError
from .monitor import BACKOFF_MAX, BACKOFF_RESET, BACKOFF_START
from .monitoring import monitor_script
from .options import signal_number
from .records import ContainerPaths, tail
from .supervisor import SYSTEMD, StartSteps, Supervisor, wait_until
from .systemd_units import read_events, read_unit_status, show, unit_name

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List
    from .containers import Containers

START_TIMEOUT = 30.0
COMMAND_TIMEOUT = 60
UNLOAD_WAIT = 5.0
#: the unit waits RestartSec= (the monitor's first delay); the hook sleeps the rest of the back-off
RESTART_MS = int(BACKOFF_START * 1000)
START_LIMIT_SEC = int(BACKOFF_MAX) + 60  # TimeoutStartSec=: the hook's longest sleep, and time to spare
HOOK = """#!/bin/sh
# written by undock.oci: run by the systemd unit of container %(name)s before (start) and after (exit) each run
events=%(events)s
backoff=%(backoff)s
now_ms() { date +%%s%%3N; }
delay=%(first)d started=0
[ -s "$backoff" ] && read -r delay started < "$backoff"
if [ "$1" = start ]; then
    next=%(first)d
    if [ -s "$events" ]; then  # a restart: the monitor's back-off, of which RestartSec= was the first %(first)d ms
        rest=$((delay - %(first)d))
        [ "$rest" -gt 0 ] && sleep "$((rest / 1000)).$(printf %%03d $((rest %% 1000)))"
        next=$((delay * 2 > %(max)d ? %(max)d : delay * 2))
    fi
    %(runtime)s --root %(root)s delete --force %(name)s >/dev/null 2>&1
    echo "$next $(now_ms)" > "$backoff"
    echo "start - - $(date -u +%%Y-%%m-%%dT%%H:%%M:%%S.%%6NZ)" >> "$events"
else
    # a stop while the hook slept before a restart ends no run: nothing to record
    case "$(tail -n 1 "$events" 2>/dev/null)" in start*) ;; *) exit 0 ;; esac
    # a run of %(reset)d ms or more resets the back-off
    [ "$(($(now_ms) - started))" -ge %(reset)d ] && echo "%(first)d $started" > "$backoff"
    echo "exit ${EXIT_CODE:--} ${EXIT_STATUS:--} $(date -u +%%Y-%%m-%%dT%%H:%%M:%%S.%%6NZ)" >> "$events"
fi
exit 0
"""


def unit_hook(paths: ContainerPaths, runtime: str, root: str, max_ms: int = int(BACKOFF_MAX * 1000)) -> str:
    """The text of the unit's hook (HOOK) for the container of ``paths``."""
    return HOOK % {"name": shlex.quote(paths.name), "runtime": shlex.quote(runtime), "root": shlex.quote(root),
                   "events": shlex.quote(paths.events), "backoff": shlex.quote(paths.backoff), "first": RESTART_MS,
                   "max": max_ms, "reset": int(BACKOFF_RESET * 1000)}


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
    return [restart, "RestartSec=%dms" % RESTART_MS, "TimeoutStartSec=%ds" % START_LIMIT_SEC] + limit


def _quoted(path: str) -> str:
    """A path as one word of a unit's command line."""
    return '"%s"' % path.replace("\\", "\\\\").replace('"', '\\"')


def unit_properties(paths: ContainerPaths, desired: Dict[str, Any]) -> List[str]:
    stop = signal_number(desired["stop_signal"])
    timeout_ms = max(1, int(desired["stop_timeout"]) * 1000)  # 0 would mean: no timeout at all
    return ["ExecStartPre=/bin/sh %s start" % _quoted(paths.unit_hook),
            "ExecStopPost=/bin/sh %s exit" % _quoted(paths.unit_hook),
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
    kind = SYSTEMD

    def launch(self, containers: Containers, paths: ContainerPaths, desired: Dict[str, Any],
               steps: StartSteps) -> List[str]:
        name = paths.name
        unit = unit_name(containers.store.root, name)
        runtime = containers.runtime(desired["runtime"])
        systemctl("reset-failed", unit)  # a failed unit of an earlier start keeps the name taken
        for stale in (paths.events, paths.pid_file, paths.backoff):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)
        atomic_write(paths.unit_hook, unit_hook(paths, runtime.binary, runtime.root).encode(), 0o700)
        script = monitor_script(containers.run_root)
        steps.prepare()  # systemd-run's runtime runs the container at once: nothing to overlap
        actions = steps.complete({"supervisor": self.kind, "unit": unit})
        command = ["systemd-run", "--quiet", "--unit", unit, "--service-type=simple",
                   "--description=undock.oci container %s (store %s)" % (name, containers.store.root)]
        for setting in unit_properties(paths, desired):
            command += ["--property", setting]
        # -I -S: the log pipe needs the standard library only, as the monitor
        command += ["--", sys.executable, "-I", "-S", script, "--log-pipe", paths.log,
                    str(containers.log_max), "--", runtime.binary, "--root", runtime.root, "run",
                    "--bundle", paths.bundle, "--pid-file", paths.pid_file, name]
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
