# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``monitor`` supervisor: one detached process per container (monitor.py), for hosts
whose PID 1 is not systemd. It writes the state file that records.read_monitor_status reads,
and a stop file written here tells it not to restart the container."""

from __future__ import annotations

import contextlib
import json
import os
import pkgutil
import select
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List

from ..common.fileutil import atomic_write
from . import monitor  # imported so that Ansible ships it in the module's payload, to copy it out
from .errors import ContainerError
from .records import ContainerPaths, monitor_alive, read_json, tail
from .supervisor import POLL, Supervisor, wait_until

if TYPE_CHECKING:
    from .containers import Containers

START_TIMEOUT = 30.0
KILL_GRACE = 10.0


class MonitorSupervisor(Supervisor):
    kind = "monitor"

    def launch(self, containers: Containers, paths: ContainerPaths, desired: Dict[str, Any],
               started: Callable[[Dict[str, Any]], List[str]]) -> List[str]:
        name = paths.name
        runtime = containers.runtime(desired["runtime"])
        for stale in (paths.stop, paths.state):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)
        script = pkgutil.get_data(monitor.__name__.rsplit(".", 1)[0], "monitor.py")
        if script is None:
            raise ContainerError("cannot read the container monitor out of the module")
        atomic_write(paths.monitor_script, script, 0o600, durable=False)
        actions: List[str] = []
        deadline = time.monotonic() + START_TIMEOUT
        # The monitor's interpreter starts while the network is attached: it waits on ``go``.
        ready, announce = os.pipe()
        wait_go, go = os.pipe()
        launcher = None
        try:
            config = {"runtime": runtime.binary, "root": runtime.root, "id": name, "bundle": paths.bundle,
                      "state_file": paths.state, "log_file": paths.log, "log_max": containers.log_max,
                      "pid_file": paths.pid_file, "stop_file": paths.stop, "restart_policy": desired["restart_policy"],
                      "ready_fd": announce, "go_fd": wait_go}
            atomic_write(paths.monitor_config, json.dumps(config).encode(), 0o600, durable=False)
            # -I -S: the monitor needs the standard library only, not the site-packages of a virtualenv
            with open(os.devnull, "rb") as null, open(paths.monitor_log, "ab") as log:
                launcher = subprocess.Popen([sys.executable, "-I", "-S", paths.monitor_script, paths.monitor_config],
                                            stdin=null, stdout=log, stderr=log, start_new_session=True, close_fds=True,
                                            pass_fds=(announce, wait_go), cwd="/")
            for fd in (announce, wait_go):
                os.close(fd)
            announce = wait_go = -1
            actions.extend(started({"supervisor": self.kind}))
            os.write(go, b"1")
            os.close(go)
            go = -1
            # a byte when the monitor has saved "running" (or why not), end of file if it died first
            select.select([ready], [], [], max(0.0, deadline - time.monotonic()))
        finally:
            for fd in (ready, announce, wait_go, go):  # a go pipe closed unwritten sends the monitor away
                if fd >= 0:
                    os.close(fd)
            if launcher is not None:  # it forked the monitor and left long before (wait(timeout) would poll)
                launcher.wait(max(0.1, deadline - time.monotonic()))
        while time.monotonic() < deadline:
            state = read_json(paths.state) or {}
            if state.get("status") in ("running", "exited", "restarting"):
                break
            time.sleep(POLL)
        else:
            raise ContainerError("container %s did not start within %d s; see %s" % (name, START_TIMEOUT,
                                                                                     paths.monitor_log))
        if state.get("error") and state.get("status") == "exited":
            wait_until(lambda: not monitor_alive(state), KILL_GRACE)
            said = " | ".join(tail(paths.log, 3))
            raise ContainerError("container %s could not start: %s: %s" % (name, state["error"], said))
        return actions

    def halt(self, containers: Containers, paths: ContainerPaths, desired: Dict[str, Any],
             record: Dict[str, Any]) -> List[str]:
        name = paths.name
        status = containers.status(name)
        state = read_json(paths.state) or {}
        runtime = containers.runtime(desired["runtime"])
        running = status["state"] in ("running", "restarting") or monitor_alive(state)
        if os.path.isdir(paths.run):
            atomic_write(paths.stop, b"stop\n", 0o600, durable=False)
        actions = []

        def stopped() -> bool:  # the monitor (if one held it) has gone and the container's init is dead
            return not monitor_alive(state) and containers.status(name)["state"] != "running"
        if running:
            runtime.kill(name, desired["stop_signal"])
            if not wait_until(stopped, desired["stop_timeout"]):
                runtime.kill(name, "SIGKILL")
                actions.append("killed container %s: it did not stop within %d s of %s"
                               % (name, desired["stop_timeout"], desired["stop_signal"]))
                if not wait_until(stopped, KILL_GRACE):
                    raise ContainerError("container %s did not die after SIGKILL" % name)
            actions.append("stopped container %s" % name)
        runtime.delete(name)
        if monitor_alive(state) and not wait_until(lambda: not monitor_alive(state), KILL_GRACE):
            os.kill(int(state["monitor_pid"]), 9)
        return actions
