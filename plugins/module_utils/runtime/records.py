# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a container's files are, and what they say: its record, its state as the monitor
wrote it, its network state and the tail of its log (the layout is in containers.py).

Reading only, and importing little: a task that finds its container as it wants it
(runtime/quick.py) reads these and nothing else."""

from __future__ import annotations

import os

from ..storage.mount_records import process_start
from ..storage.peek import read_json
from .names import check_name
from .network.errors import NetworkError
from .network.state import NetworkState, load_state

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

RECORD = "container.json"
LOG_MAX = 10 * 1024 * 1024  # the cap of a container's log file (the monitor rotates it there)
RUNNING = ("running", "restarting")  # the states of read_status that a start leaves alone


class ContainerPaths:
    def __init__(self, store_root: str, run_root: str, name: str):
        self.name = check_name(name)
        self.dir = os.path.join(store_root, "containers", name)
        self.record = os.path.join(self.dir, RECORD)
        self.bundle = os.path.join(self.dir, "bundle")
        self.rootfs = os.path.join(self.bundle, "rootfs")
        self.config = os.path.join(self.bundle, "config.json")
        self.upper = os.path.join(self.dir, "overlay", "upper")
        self.work = os.path.join(self.dir, "overlay", "work")
        self.logs = os.path.join(self.dir, "logs")
        self.log = os.path.join(self.logs, "container.log")
        self.run = os.path.join(run_root, "containers", name)
        self.state = os.path.join(self.run, "state.json")
        self.stop = os.path.join(self.run, "stop")
        self.pid_file = os.path.join(self.run, "init.pid")
        self.monitor_config = os.path.join(self.run, "monitor.json")
        self.monitor_log = os.path.join(self.run, "monitor.log")
        self.network = os.path.join(self.run, "network")
        self.events = os.path.join(self.run, "events")  # a systemd unit's runs (systemd_units.py)
        self.unit_hook = os.path.join(self.run, "unit-hook.sh")
        self.backoff = os.path.join(self.run, "backoff")  # a systemd unit's next restart delay (systemd.py)


def tail(path: str, lines: int) -> List[str]:
    """The last ``lines`` lines of the log (and of its rotated part when needed)."""
    if lines <= 0:
        return []
    data = b""
    for part in (path, path + ".1"):
        try:
            with open(part, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 64 * 1024 * max(1, lines // 100)))
                data = handle.read() + data
        except OSError:
            continue
        if data.count(b"\n") > lines:
            break
    return [line.decode("utf-8", "replace") for line in data.splitlines()[-lines:]]


def monitor_alive(state: Dict[str, Any]) -> bool:
    pid = state.get("monitor_pid")
    return bool(pid) and process_start(int(pid)) == state.get("monitor_start")


def read_status(paths: ContainerPaths, record: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """``state`` (created, running, restarting, stopped) with pid, exit code and times, from
    the supervisor that holds the container (supervisor.py)."""
    if (record or {}).get("supervisor") == "systemd" and record.get("started"):
        from .systemd_units import read_unit_status  # here: only a host booted with systemd has such containers
        return read_unit_status(paths, record)
    return read_monitor_status(paths, record)


def read_monitor_status(paths: ContainerPaths, record: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """read_status of a container held by a monitor (monitor.py writes the state file)."""
    record = record or {}
    state = read_json(paths.state) or {}
    result = {"state": "created" if not record.get("started") else "stopped", "pid": None,
              "exit_code": state.get("exit_code"), "started_at": state.get("started_at"),
              "finished_at": state.get("finished_at"), "restart_count": state.get("restart_count") or 0,
              "error": state.get("error"), "supervised": False, "unit": None}
    status = state.get("status")
    if not state:
        return result
    alive = monitor_alive(state)
    # while its monitor lives, a container that died is running until the exit is recorded
    if status == "running" and (alive or state.get("pid") and process_start(int(state["pid"])) is not None):
        result.update(state="running", pid=state["pid"], exit_code=None, supervised=alive)
    elif status in ("starting", "restarting") and alive:
        result.update(state="restarting" if status == "restarting" else "running", supervised=True)
    else:  # exited: the monitor saved that with its decision not to restart; alive, it is leaving
        result.update(state="stopped", supervised=False)
    return result


def read_network_state(paths: ContainerPaths) -> Optional[NetworkState]:
    try:
        return load_state(paths.network)
    except NetworkError:
        return None


def read_info(paths: ContainerPaths, record: Dict[str, Any], log_lines: int = 20) -> Dict[str, Any]:
    """The ``container`` return value of the container whose record is ``record``."""
    desired = record["desired"]
    result = {"name": paths.name, "image": desired["image"], "image_digest": desired["image_digest"],
              "bundle": paths.bundle, "log_path": paths.log, "created_at": record.get("created_at"),
              "config": desired}
    result.update(read_status(paths, record))
    network = read_network_state(paths)
    attached = network is not None and network.phase == "attached"
    result.update(network=desired.get("network"), ports=list(desired.get("ports") or []),
                  ip_address=network.ip_address if attached else None)
    result["logs"] = tail(paths.log, log_lines)
    return result
