# -*- coding: utf-8 -*-
"""The supervisor seam (runtime/supervisor.py): the monitor where systemd is not PID 1 (as on
this machine and CI), systemd units where it is; how a restart policy and the stop signal
become unit settings, and how a unit's state reads once systemd has forgotten it (the
events file its hook writes). The systemd path itself runs in tests/node/."""

from __future__ import annotations

import pytest

from ansible_collections.undock.oci.plugins.module_utils.runtime import containers as C
from ansible_collections.undock.oci.plugins.module_utils.runtime import supervisor as S
from ansible_collections.undock.oci.plugins.module_utils.runtime import systemd as D
from ansible_collections.undock.oci.plugins.module_utils.runtime import systemd_units as U
from ansible_collections.undock.oci.plugins.module_utils.runtime.errors import ContainerError
from ansible_collections.undock.oci.plugins.module_utils.runtime.records import ContainerPaths, read_status


def test_systemd_is_chosen_only_where_it_booted_the_host(tmp_path, monkeypatch):
    assert not S.systemd_booted(str(tmp_path / "absent"))
    (tmp_path / "system").mkdir()
    assert S.systemd_booted(str(tmp_path / "system"))
    monkeypatch.setattr(C, "systemd_booted", lambda: False)
    assert C.choose_supervisor().kind == "monitor"
    monkeypatch.setattr(C, "systemd_booted", lambda: True)
    assert C.choose_supervisor().kind == "systemd"
    assert C.supervisor_named("monitor").kind == "monitor"
    with pytest.raises(ContainerError, match="unknown container supervisor"):
        C.supervisor_named("upstart")


@pytest.mark.parametrize("policy, settings", [
    ("no", ["Restart=no"]),
    ("on-failure", ["Restart=on-failure", "RestartSec=100ms", "TimeoutStartSec=90s", "StartLimitIntervalSec=0"]),
    ("on-failure:2", ["Restart=on-failure", "RestartSec=100ms", "TimeoutStartSec=90s", "StartLimitIntervalSec=infinity",
                      "StartLimitBurst=3"]),
    ("always", ["Restart=always", "RestartSec=100ms", "TimeoutStartSec=90s", "StartLimitIntervalSec=0"]),
    ("unless-stopped", ["Restart=always", "RestartSec=100ms", "TimeoutStartSec=90s", "StartLimitIntervalSec=0"]),
])
def test_restart_policies_become_unit_settings(policy, settings):
    assert D.restart_properties(policy) == settings


def test_unit_settings_stop_with_the_stop_signal(tmp_path):
    paths = ContainerPaths(str(tmp_path / "store"), str(tmp_path / "run dir"), "web")
    desired = {"stop_signal": "SIGRTMIN+3", "stop_timeout": 0, "restart_policy": "no"}
    settings = D.unit_properties(paths, desired)
    assert "KillSignal=37" in settings and "SuccessExitStatus=143 165" in settings
    assert "TimeoutStopSec=1ms" in settings  # 0 s would be no timeout at all for systemd
    # the log pipe (monitor.py --log-pipe), not systemd, writes the log: systemd would not cap it
    assert not any(setting.startswith(("StandardOutput=", "StandardError=")) for setting in settings)
    assert 'ExecStopPost=/bin/sh "%s" exit' % paths.unit_hook in settings  # a path with a space stays one word
    assert "SuccessExitStatus=143" in D.unit_properties(paths, dict(desired, stop_signal="SIGTERM"))


def test_unit_names_name_the_store_unless_it_is_the_default_one():
    assert U.unit_name("/var/lib/undock/", "web") == "undock-web.service"
    other = U.unit_name("/srv/store", "web")
    assert other.startswith("undock-") and other.endswith("-web.service") and other != U.unit_name("/srv/b", "web")


@pytest.mark.parametrize("code, status, expected", [
    ("exited", "3", 3), ("1", "0", 0), ("killed", "KILL", 137), ("2", "15", 143), ("dumped", "SEGV", 139),
    ("-", "-", None), ("exited", "x", None),
])
def test_exit_codes_read_as_docker_reports_them(code, status, expected):
    assert U.exit_code(code, status) == expected


def test_systemd_times_become_iso_8601():
    assert U.iso_time("Mon 2026-12-07 14:20:01.123456 UTC") == "2026-12-07T14:20:01.123456Z"
    assert U.iso_time("") is None and U.iso_time("n/a") is None


def test_a_forgotten_unit_reads_from_its_events(tmp_path):
    paths = ContainerPaths(str(tmp_path / "store"), str(tmp_path / "run"), "flaky")
    record = {"started": True, "supervisor": "systemd", "unit": ""}  # no unit: systemctl is not asked
    (tmp_path / "run" / "containers" / "flaky").mkdir(parents=True)
    with open(paths.events, "w") as handle:
        handle.write("start - - 2026-12-07T14:28:20.063800Z\nexit exited 3 2026-12-07T14:28:20.192997Z\n"
                     "start - - 2026-12-07T14:28:20.634168Z\nexit killed KILL 2026-12-07T14:28:20.756280Z\n"
                     "garbage\n")
    status = read_status(paths, record)
    assert status["error"] == "the runtime failed before the container ran (see the log)"  # no init pid ever
    with open(paths.pid_file, "w") as handle:
        handle.write("4194304\n")  # above pid_max: never alive
    status = read_status(paths, record)
    assert status == {"state": "stopped", "pid": None, "exit_code": 137, "started_at": "2026-12-07T14:28:20.634168Z",
                      "finished_at": "2026-12-07T14:28:20.756280Z", "restart_count": 1, "error": None,
                      "supervised": False, "unit": ""}
    with open(paths.events, "a") as handle:
        handle.write("start - - 2026-12-07T14:28:21.0Z\n")  # a run that has not ended
    status = read_status(paths, record)
    assert status["restart_count"] == 2 and status["exit_code"] is None and status["finished_at"] is None
    # a container the monitor held reads from its state file, whatever the events say
    assert read_status(paths, dict(record, supervisor="monitor"))["unit"] is None
