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
import sys
import time

from ..common.fileutil import atomic_write, makedirs_private
from ..model.digest import name_digest
from .errors import ContainerError
from .names import check_name
from .records import RUNNING, ContainerPaths, monitor_alive, read_json, read_status, tail
from .supervisor import POLL, StartSteps, Supervisor, systemd_booted, wait_until

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional
    from . import monitor  # noqa: F401 pylint: disable=unused-import  # only so that Ansible ships monitor.py in the payload
    from .containers import Containers

START_TIMEOUT = 30.0
KILL_GRACE = 10.0
GO = b"S"  # the go-ahead: monitor.py starts the container it created


def config_bytes(config: Dict[str, Any]) -> bytes:
    """The monitor's config as monitor.py's parse_config reads it from the pipe: its length and
    ``:``, then ``KEY\\0VALUE\\0`` for each (None as empty); the go-ahead may follow. Written
    here, not imported from monitor.py: a module run would compile that whole script for it."""
    payload = b"".join(b"%s\0%s\0" % (os.fsencode(key), os.fsencode("" if value is None else str(value)))
                       for key, value in config.items())
    return b"%d:%s" % (len(payload), payload)


def monitor_script(run_root: str) -> str:
    """monitor.py copied out of the module to ``run_root/monitor/``, once per version (its
    content's digest names it): the launch of a monitor needs nothing of its container."""
    # pkgutil.get_data's way, without importing pkgutil (and importlib.util) on every start: the
    # package's loader reads the file beside it, from Ansible's zipped payload too
    package = sys.modules[__name__.rsplit(".", 1)[0]]
    try:
        script = package.__loader__.get_data(os.path.join(os.path.dirname(package.__file__), "monitor.py"))
    except (AttributeError, OSError, TypeError) as err:
        raise ContainerError("cannot read the container monitor out of the module: %s" % err) from None
    directory = os.path.join(run_root, "monitor")
    path = os.path.join(directory, "monitor-%s.py" % name_digest(script)[:16])
    if not os.path.exists(path):
        makedirs_private(directory)
        atomic_write(path, script, 0o600, durable=False)
    return path


def early_monitor(storage_root: str, run_root: str, params: Dict[str, Any], check_mode: bool) -> Optional[MonitorLaunch]:
    """A monitor started now, for a task (oci_container's ``params``) about to start its container
    under one: the container is not running, or is to be restarted. Called before the rest of
    the engine is imported (by the module, and by ContainerService.ensure when not given one),
    so that the monitor's interpreter starts while this process loads the engine, mounts the
    rootfs and attaches the network. None when no monitor will be needed, or it is not sure."""
    state = params.get("state") or "started"
    if check_mode or state not in ("started", "restarted") or systemd_booted():
        return None
    if not os.path.isdir(run_root):  # the store's first run makes it, with its modes
        return None
    name = check_name(params.get("name"))
    if state == "started" and not params.get("force_restart"):
        paths = ContainerPaths(storage_root, run_root, name)
        record = read_json(paths.record)
        if record is not None and read_status(paths, record)["state"] in RUNNING:
            return None  # most likely nothing to do (or a recreate, whose start launches its own)
    return MonitorLaunch(run_root)


class MonitorLaunch:
    """A monitor started before its container is ready, waiting for it (monitor.py): its
    interpreter starts while the engine mounts the rootfs, writes config.json and makes the
    network namespace. ``hand_over`` gives it the container, which it creates at once while
    the engine completes the network; ``start`` lets it start the container. ``close``
    before ``hand_over`` (or the engine's death, which closes the pipe too) sends it away
    without a trace; ``close`` between the two makes it delete the container and leave.

    It is detached as a daemon is (and as conmon is by podman): this process forks, the child
    makes a session of its own and forks the monitor, which it leaves at once, so that the
    monitor is nobody's child here, and is reaped by init (or the host's subreaper) when it exits.
    That child is reaped by ``close``, not waited for here: its fork and exit (a few ms for a
    process this size) overlap the engine's own work."""

    def __init__(self, run_root: str):
        script = monitor_script(run_root)
        self.ready = self.go = -1
        self.launcher = 0
        theirs: List[int] = []
        try:
            self.ready, announce = os.pipe()
            theirs.append(announce)
            wait_go, self.go = os.pipe()
            theirs.append(wait_go)
            # -I -S: the monitor needs the standard library only, not the site-packages of a virtualenv
            argv = [sys.executable, "-I", "-S", script, str(wait_go), str(announce)]
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            theirs.append(null)
            self.launcher = os.fork()
            if self.launcher == 0:  # nothing but system calls here, until the exec or the exit
                try:
                    os.setsid()
                    if os.fork() == 0:
                        for fd in (0, 1, 2):
                            os.dup2(null, fd)
                        for fd in (announce, wait_go):
                            os.set_inheritable(fd, True)
                        os.chdir("/")
                        os.execv(sys.executable, argv)
                finally:
                    os._exit(0)  # pylint: disable=protected-access
        except BaseException:
            self.close()
            raise
        finally:
            for fd in theirs:
                os.close(fd)

    def hand_over(self, config: Dict[str, Any]) -> None:
        """Give the monitor its container: it runs ``runtime create`` at once, and starts the
        container on ``start`` (``abort`` or ``close`` without it: it deletes the container and leaves)."""
        try:
            os.write(self.go, config_bytes(config))  # far below a pipe's buffer: never blocks
        except BrokenPipeError:
            os.close(self.go)
            self.go = -1
            raise ContainerError("the monitor of container %s died before it was given the container; see %s"
                                 % (config["id"], config["monitor_log"]))

    def start(self) -> None:
        """Let the monitor start the container it was handed. A monitor that died meanwhile
        (its create failed, without a restart) has said why in its state: wait_ready reads it."""
        try:
            os.write(self.go, GO)
        except BrokenPipeError:
            pass
        finally:
            os.close(self.go)
            self.go = -1

    def wait_ready(self, deadline: float) -> Optional[bool]:
        """Until the monitor has saved "running" (or why not): True for its byte on the pipe,
        False for the pipe's end (it died first), None when ``deadline`` (time.monotonic()) came first."""
        import select  # here: a start that launches no monitor (a no-op) never waits
        readable = select.select([self.ready], [], [], max(0.0, deadline - time.monotonic()))[0]
        return bool(os.read(self.ready, 1)) if readable else None

    def abort(self, grace: float) -> None:
        """Between hand_over and start: the monitor deletes the container it created and leaves;
        waited for (at most ``grace`` s), so that it is gone before the next start under the
        container's lock makes the container anew."""
        if self.go >= 0:
            os.close(self.go)
            self.go = -1
            if self.ready >= 0:
                self.wait_ready(time.monotonic() + grace)

    def close(self) -> None:
        """Close the pipes (a monitor not handed a container leaves) and reap the launcher,
        which left as soon as it had forked the monitor."""
        for fd in (self.ready, self.go):
            if fd >= 0:
                os.close(fd)
        self.ready = self.go = -1
        if self.launcher > 0:
            launcher, self.launcher = self.launcher, 0
            with contextlib.suppress(ChildProcessError):
                os.waitpid(launcher, 0)


def settle(paths: ContainerPaths, grace: float = KILL_GRACE) -> None:
    """Wait (at most ``grace`` s) for a monitor still "starting" under the container's lock: it
    was handed the container by an engine that died before its go-ahead, and is deleting what it
    created (monitor.py); a new start must not race it."""
    state = read_json(paths.state) or {}
    if state.get("status") == "starting" and monitor_alive(state):
        wait_until(lambda: (read_json(paths.state) or {}).get("status") != "starting" or not monitor_alive(state), grace)


class MonitorSupervisor(Supervisor):
    kind = "monitor"

    def __init__(self, early: Optional[MonitorLaunch] = None):
        self.early = early  # a monitor started ahead, for the next launch

    def launch(self, containers: Containers, paths: ContainerPaths, desired: Dict[str, Any],
               steps: StartSteps) -> List[str]:
        name = paths.name
        runtime = containers.runtime(desired["runtime"])
        settle(paths)
        for stale in (paths.stop, paths.state):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)
        deadline = time.monotonic() + START_TIMEOUT
        launch, self.early = self.early, None
        handed = False
        try:
            if launch is None:  # its interpreter starts while the network is prepared
                launch = MonitorLaunch(containers.run_root)
            config = {"runtime": runtime.binary, "root": runtime.root, "id": name, "bundle": paths.bundle,
                      "state_file": paths.state, "log_file": paths.log, "log_max": containers.log_max,
                      "pid_file": paths.pid_file, "stop_file": paths.stop, "restart_policy": desired["restart_policy"],
                      "monitor_log": paths.monitor_log}
            steps.prepare()
            launch.hand_over(config)
            handed = True
            # while the runtime creates the container: the rest of the network, the record
            atomic_write(paths.monitor_config, json.dumps(config).encode(), 0o600, durable=False)  # to read, for people
            actions = steps.complete({"supervisor": self.kind})
            launch.start()
            announced = launch.wait_ready(deadline)
        except BaseException:
            if launch is not None and handed:
                launch.abort(KILL_GRACE)
            raise
        finally:
            if launch is not None:
                launch.close()
        if announced is False and (read_json(paths.state) or {}).get("status") in (None, "starting"):
            raise ContainerError("the monitor of container %s died before it started it; see %s" % (name, paths.monitor_log))
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
