# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading the state of a container that a systemd unit holds (systemd.py starts them).

systemd knows the unit while it is loaded: ``systemctl show`` gives its state, the runtime's
exit status (``runc run`` exits with the container's) and the times of its main process. A
transient unit that ended cleanly is unloaded at once, and a failed one when it is reset, so
the unit's hook also appends a line per run to the container's events file, ``start TIME``
before and ``exit CODE STATUS TIME`` after (systemd's ``$EXIT_CODE`` and ``$EXIT_STATUS``):
that file answers once systemd has forgotten the unit. Reading only."""

from __future__ import annotations

import os
import signal

from ..model.digest import name_digest
from ..storage.mount_records import process_start

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple
    from .records import ContainerPaths

DEFAULT_STORE = "/var/lib/undock"
SHOW_TIMEOUT = 30
PROPERTIES = ("LoadState", "ActiveState", "SubState", "ExecMainCode", "ExecMainStatus",
              "ExecMainStartTimestamp", "ExecMainExitTimestamp", "Result")
#: waitid(2) codes as ``systemctl show`` prints ExecMainCode
CLD_EXITED, CLD_KILLED, CLD_DUMPED = 1, 2, 3
RUNNING_STATES = ("active", "reloading", "deactivating")


def unit_name(store_root: str, name: str) -> str:
    """``undock-NAME.service`` for the default store; ``undock-<store>-NAME.service`` for another
    one, since two stores may both have a container NAME."""
    if os.path.normpath(store_root) == DEFAULT_STORE:
        return "undock-%s.service" % name
    return "undock-%s-%s.service" % (name_digest(store_root.encode())[:8], name)


def show(unit: str) -> Dict[str, str]:
    """The unit's PROPERTIES (empty when systemctl cannot say)."""
    import subprocess  # here: a host without systemd never runs it, and the module costs every start
    try:
        proc = subprocess.run(["systemctl", "show", "--timestamp=us+utc", "-p", ",".join(PROPERTIES), unit],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=SHOW_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    result = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            result[key] = value
    return result


def iso_time(value: str) -> Optional[str]:
    """``Mon 2026-12-07 14:20:01.123456 UTC`` -> ``2026-12-07T14:20:01.123456Z`` (None when unset)."""
    parts = (value or "").split()
    if len(parts) != 4 or parts[3] != "UTC":
        return None
    return "%sT%sZ" % (parts[1], parts[2])


def exit_code(code: str, status: str) -> Optional[int]:
    """The container's exit code from systemd's (code, status) pair, names or numbers; 128 +
    the signal when the runtime itself was killed, as docker reports a killed container."""
    try:
        if code in ("exited", str(CLD_EXITED)):
            return int(status)
        if code in ("killed", "dumped", str(CLD_KILLED), str(CLD_DUMPED)):
            number = int(status) if status.isdigit() else signal.Signals["SIG" + status].value
            return 128 + number
    except (ValueError, KeyError):
        pass
    return None


def read_events(path: str) -> Tuple[List[str], List[Tuple[str, str, str]]]:
    """(start times, (code, status, time) of each exit) from the events file."""
    starts: List[str] = []
    exits: List[Tuple[str, str, str]] = []
    try:
        with open(path, "r") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return starts, exits
    for line in lines:
        words = line.split()
        if len(words) == 4 and words[0] == "start":
            starts.append(words[3])
        elif len(words) == 4 and words[0] == "exit":
            exits.append((words[1], words[2], words[3]))
    return starts, exits


def _init_pid(paths: ContainerPaths) -> Optional[int]:
    try:
        with open(paths.pid_file, "r") as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    return pid if process_start(pid) is not None else None


def read_unit_status(paths: ContainerPaths, record: Dict[str, Any]) -> Dict[str, Any]:
    """read_status (records.py) of a started container that a systemd unit holds."""
    unit = record.get("unit") or ""
    result: Dict[str, Any] = {"state": "stopped", "pid": None, "exit_code": None, "started_at": None,
                              "finished_at": None, "restart_count": 0, "error": None, "supervised": False,
                              "unit": unit}
    starts, exits = read_events(paths.events)
    if starts:
        result.update(started_at=starts[-1], restart_count=len(starts) - 1)
    if exits and len(exits) >= len(starts):
        code, status, when = exits[-1]
        result.update(exit_code=exit_code(code, status), finished_at=when)
    if exits and len(exits) >= len(starts) and not os.path.exists(paths.pid_file):
        result["error"] = "the runtime failed before the container ran (see the log)"
    shown = show(unit) if unit else {}
    if shown.get("LoadState") != "loaded" or (shown.get("ActiveState") == "inactive" and not starts):
        return result
    active, sub = shown.get("ActiveState"), shown.get("SubState")
    # restart_count stays the events' (runs - 1): NRestarts also counts a restart that
    # StartLimitBurst (on-failure:N) refused
    result["started_at"] = iso_time(shown.get("ExecMainStartTimestamp", "")) or result["started_at"]
    # before a restart, the hook sleeps the rest of the back-off (systemd.py): start-pre after a run
    between_runs = sub == "auto-restart" or (sub == "start-pre" and bool(exits) and len(exits) >= len(starts))
    if active in RUNNING_STATES or (active == "activating" and not between_runs):
        result.update(state="running", pid=_init_pid(paths), exit_code=None, finished_at=None, supervised=True)
    elif between_runs:
        result.update(state="restarting", supervised=True)
    else:
        code = exit_code(shown.get("ExecMainCode", ""), shown.get("ExecMainStatus", ""))
        if code is not None:
            result["exit_code"] = code
        result["finished_at"] = iso_time(shown.get("ExecMainExitTimestamp", "")) or result["finished_at"]
        if shown.get("Result") not in (None, "", "success", "exit-code", "signal"):
            result["error"] = "systemd unit %s: %s" % (unit, shown["Result"])
    return result
