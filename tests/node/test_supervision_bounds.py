# -*- coding: utf-8 -*-
"""What the systemd path bounds as the monitor does, in a booted node: a container that writes
more than the log cap (10 MiB) keeps at most the cap in container.log (and as much in
container.log.1), and oci_container_info still shows its last lines; a container that keeps
failing with ``restart_policy: always`` restarts with gaps that double (0.1 s, 0.2 s, 0.4 s ...),
read from its events file, and reads as ``restarting`` while it waits."""

from __future__ import annotations

from datetime import datetime

import pytest

from harness import images as I
from harness.ansible import run_play_on
from harness.engine import registries_conf

LOG_MAX = 10 * 1024 * 1024
LINES = 2_000_000  # "1\n" ... "2000000\n": 14.9 MB


@pytest.fixture(scope="module")
def busybox(session_registry):
    return I.push_layers(session_registry, "node/busybox", "1", [I.tar_layer(I.busybox_entries())])


def until(module, args, condition, retries=120, delay=0.5):
    """A task that repeats ``module`` until ``condition`` holds of ``R``, its result (renamed per task)."""
    return {module: args, "until": condition, "retries": retries, "delay": delay}


def numbered(tasks):
    return [dict(t, until=t["until"].replace("R.", "r%d." % n)) if "until" in t else t for n, t in enumerate(tasks)]


def seconds(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def test_systemd_caps_the_log_and_backs_off_restarts(boot_node, busybox, registry, tmp_path):
    node = boot_node()
    with open(registries_conf(str(tmp_path / "conf"), registry.host)) as handle:
        conf_text = handle.read()
    common = {"registries_conf": "/etc/registries-test.conf", "image": busybox.ref, "network": "host"}
    chatty = dict(common, name="chatty", stop_timeout=2,
                  command="sh -c 'seq 1 %d; echo the end; exec sleep 3600'" % LINES)
    crashing = dict(common, name="crashing", restart_policy="always", command="sh -c 'echo run; exit 1'")
    logs = "/var/lib/undock/containers/chatty/logs/"
    tasks = [
        {"ansible.builtin.copy": {"content": conf_text, "dest": "/etc/registries-test.conf"}},
        {"undock.oci.oci_container": chatty},
        until("undock.oci.oci_container_info", {"name": "chatty", "log_lines": 3},
              "R.containers[0].logs[-1:] == ['the end']"),
        {"ansible.builtin.shell": "stat -c '%n %s' " + logs + "*"},
        {"undock.oci.oci_container": crashing},
        until("undock.oci.oci_container_info", {"name": "crashing"}, "R.containers[0].restart_count >= 6"),
        # the 7th run has ended: the unit waits 6.4 s before the 8th
        until("undock.oci.oci_container_info", {"name": "crashing"}, "R.containers[0].state == 'restarting'",
              retries=40, delay=0.2),
        {"ansible.builtin.command": {"argv": ["cat", "/run/undock/containers/crashing/events"]}},
        {"undock.oci.oci_container": dict(crashing, state="absent")},
        {"undock.oci.oci_container": dict(chatty, state="absent")},
        {"ansible.builtin.command": {"argv": ["systemctl", "list-units", "--all", "--no-legend", "--plain",
                                              "undock-*"]}},
    ]
    results, proc = run_play_on(node.name, node.host_vars(), numbered(tasks), timeout=900)
    (copied, chatty_run, chatty_info, sizes, crash_run, crash_counted, crash_waiting, events, crash_gone,
     chatty_gone, units) = results
    for number, result in enumerate(results):
        assert not result.get("failed"), (number, result, proc.stdout[-6000:])
    assert chatty_run["container"]["unit"] == "undock-chatty.service", chatty_run
    assert chatty_info["containers"][0]["logs"] == [str(LINES - 1), str(LINES), "the end"], chatty_info
    files = dict(line.rsplit(" ", 1) for line in sizes["stdout_lines"])
    assert sorted(files) == [logs + "container.log", logs + "container.log.1"], files
    assert all(int(size) <= LOG_MAX for size in files.values()), files
    assert int(files[logs + "container.log.1"]) == LOG_MAX, files  # rotated when full, as the monitor does
    assert crash_waiting["containers"][0]["supervised"], crash_waiting
    starts, exits = [], []
    for line in events["stdout_lines"]:
        words = line.split()
        (starts if words[0] == "start" else exits).append(seconds(words[3]))
    assert len(starts) >= 7 and len(exits) >= 7, events["stdout"]
    # gap i: from the end of run i to the start of run i + 1; the monitor waits 0.1 s * 2**i
    gaps = [start - end for end, start in zip(exits, starts[1:])][:6]
    for number, gap in enumerate(gaps):
        wanted = 0.1 * 2 ** number
        assert wanted * 0.9 <= gap <= wanted + 2.0, (number, gaps)
    assert crash_gone["changed"] and chatty_gone["changed"], (crash_gone, chatty_gone)
    assert units["stdout"] == "", units
