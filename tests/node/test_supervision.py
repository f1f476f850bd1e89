# -*- coding: utf-8 -*-
"""Containers supervised by systemd, for real: in a booted node (systemd is PID 1 there),
oci_container run through the undock.oci.oci connection starts each container as a transient
unit ``undock-NAME.service`` that runs runc in the foreground. systemd shows it active, a
kill from outside gives the exit code in oci_container_info, ``on-failure:2`` restarts a
failing container twice, the logs are read through oci_container_info, a second run changes
nothing, and ``state: absent`` leaves no unit."""

from __future__ import annotations

import pytest

from harness import images as I
from harness.ansible import run_play_on
from harness.engine import registries_conf


@pytest.fixture(scope="module")
def busybox(session_registry):
    return I.push_layers(session_registry, "node/busybox", "1", [I.tar_layer(I.busybox_entries())])


def until(module, args, condition, retries=60):
    """A task that repeats ``module`` until ``condition`` (a Jinja test on ``R``, its result), 0.5 s apart."""
    return {module: args, "until": condition, "retries": retries, "delay": 0.5}


def numbered(tasks):
    """``R`` in the conditions named after each task's registered result (run_play_on: rN)."""
    return [dict(t, until=t["until"].replace("R.", "r%d." % n)) if "until" in t else t for n, t in enumerate(tasks)]


def test_containers_run_as_systemd_units(boot_node, busybox, registry, tmp_path):
    node = boot_node()
    conf = registries_conf(str(tmp_path / "conf"), registry.host)
    with open(conf) as handle:
        conf_text = handle.read()
    common = {"registries_conf": "/etc/registries-test.conf"}
    web = dict(common, name="web", image=busybox.ref, network="host", stop_timeout=5,
               command="sh -c 'echo hello from web; exec sleep 3600'")
    flaky = dict(common, name="flaky", image=busybox.ref, network="host", restart_policy="on-failure:2",
                 command="sh -c 'echo run; exit 3'")
    calm = dict(common, name="calm", image=busybox.ref, network="host", stop_timeout=10,
                command="sh -c 'trap \"exit 143\" TERM; echo up; while :; do sleep 0.2; done'")
    runc = ["runc", "--root", "/run/undock/runtime/runc"]
    tasks = [
        {"ansible.builtin.copy": {"content": conf_text, "dest": "/etc/registries-test.conf"}},
        {"undock.oci.oci_container": web},
        {"undock.oci.oci_container": web},
        {"ansible.builtin.command": {"argv": ["systemctl", "show", "-p", "ActiveState,SubState,ExecStart",
                                              "undock-web.service"]}},
        until("undock.oci.oci_container_info", {"name": "web", "log_lines": 5}, "R.containers[0].logs | length > 0"),
        # a kill from outside the unit, as an operator would do it
        {"ansible.builtin.command": {"argv": runc + ["kill", "web", "KILL"]}},
        until("undock.oci.oci_container_info", {"name": "web"}, "R.containers[0].state == 'stopped'"),
        {"undock.oci.oci_container": flaky},
        until("undock.oci.oci_container_info", {"name": "flaky", "log_lines": 10},
              "R.containers[0].state == 'stopped' and R.containers[0].restart_count == 2"),
        # a stop through systemctl: the stop signal, and 143 is a clean exit (the unit is not failed)
        {"undock.oci.oci_container": calm},
        {"ansible.builtin.command": {"argv": ["systemctl", "status", "--no-pager", "undock-calm.service"]}},
        {"undock.oci.oci_container": dict(calm, state="restarted")},
        {"undock.oci.oci_container": dict(calm, state="stopped")},
        {"ansible.builtin.command": {"argv": ["systemctl", "list-units", "--failed", "--no-legend", "--plain"]}},
        {"undock.oci.oci_container": dict(calm, state="absent")},
        {"undock.oci.oci_container": dict(common, name="nocmd", image=busybox.ref, network="host",
                                          command=["/no/such/command"])},
        {"undock.oci.oci_container_info": {"name": "nocmd"}},
        {"undock.oci.oci_container": dict(common, name="nocmd", state="absent")},
        {"undock.oci.oci_container": dict(web, state="absent")},
        {"undock.oci.oci_container": dict(flaky, state="absent")},
        {"undock.oci.oci_container": dict(flaky, state="absent")},
        {"ansible.builtin.command": {"argv": ["systemctl", "list-units", "--all", "--no-legend", "--plain",
                                              "undock-*"]}},
        {"ansible.builtin.command": {"argv": ["systemctl", "is-system-running"]}},
        {"ansible.builtin.command": {"argv": runc + ["list", "-q"]}},
    ]
    results, proc = run_play_on(node.name, node.host_vars(), numbered(tasks))
    (copied, first, second, shown, running, killed, dead, flaky_run, flaky_done, calm_run, calm_status, calm_again,
     calm_stop, failed_units, calm_gone, nocmd, nocmd_info, nocmd_gone, web_gone, flaky_gone, again_gone, units, system, left) = results
    for number, result in enumerate(results):
        assert result is nocmd or not result.get("failed"), (number, result, proc.stdout[-6000:])
    assert first["changed"] and first["container"]["state"] == "running", first
    assert first["container"]["unit"] == "undock-web.service", first["container"]
    assert second["changed"] is False, second
    props = dict(line.split("=", 1) for line in shown["stdout_lines"])
    assert props["ActiveState"] == "active" and props["SubState"] == "running", props
    assert "runc" in props["ExecStart"] and " run " in props["ExecStart"], props
    info = running["containers"][0]
    assert info["state"] == "running" and info["pid"] and info["supervised"], info
    assert info["logs"] == ["hello from web"], info
    assert killed["rc"] == 0
    info = dead["containers"][0]
    assert info["exit_code"] == 137 and info["pid"] is None and info["finished_at"], info
    assert flaky_run["changed"]
    info = flaky_done["containers"][0]
    assert info["exit_code"] == 3 and info["restart_count"] == 2 and not info["supervised"], info
    assert info["logs"] == ["run", "run", "run"], info
    assert "Active: active (running)" in calm_status["stdout"] and "runc" in calm_status["stdout"], calm_status
    info = calm_again["container"]
    assert calm_again["changed"] and info["state"] == "running" and info["pid"] != calm_run["container"]["pid"], info
    info = calm_stop["container"]
    assert calm_stop["changed"] and info["state"] == "stopped" and info["exit_code"] == 143, calm_stop
    assert not any("killed" in action for action in calm_stop["actions"]), calm_stop["actions"]
    # web (killed: 137) and flaky (exit 3) failed, as systemd sees it; calm did not
    failed = sorted(line.split()[0] for line in failed_units["stdout_lines"])
    assert failed == ["undock-flaky.service", "undock-web.service"], failed_units
    assert calm_gone["changed"]
    # the runtime's own words when it cannot run the container
    assert nocmd["failed"] and "container nocmd could not start: runc run failed" in nocmd["msg"], nocmd
    assert "/no/such/command" in nocmd["msg"] and "no such file" in nocmd["msg"], nocmd
    info = nocmd_info["containers"][0]
    assert info["state"] == "stopped" and info["error"] and info["exit_code"] != 0, info
    assert nocmd_gone["changed"]
    assert web_gone["changed"] and flaky_gone["changed"] and not again_gone["changed"]
    assert units["stdout"] == "", units
    assert system["stdout"] == "running", system
    assert left["stdout"] == "", left
