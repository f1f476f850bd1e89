# -*- coding: utf-8 -*-
"""oci_container through real Ansible and real runc: the idempotency corpus (every option
set, run again: unchanged; equivalent spellings: unchanged; each single-option change:
changed, with that field in --diff; one change applied and seen in the running
container), check mode, and state=absent leaving no mount."""

from __future__ import annotations

import os
import time

import pytest

from harness import images as I
from harness.ansible import run_tasks
from harness.engine import registries_conf

from ansible_collections.undock.oci.plugins.module_utils.storage import mounts as M

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


@pytest.fixture(scope="module")
def busybox(session_registry):
    return I.push_layers(session_registry, "containers/module-busybox", "1", [I.tar_layer(I.busybox_entries())])


def base_args(tmp_path, registry, image, host_dir):
    return {
        "storage_root": str(tmp_path / "store"), "run_root": str(tmp_path / "run"),
        "registries_conf": registries_conf(str(tmp_path / "conf"), registry.host),
        "auth_file": str(tmp_path / "conf" / "auth.json"),
        "name": "full", "image": image, "state": "started",
        "entrypoint": ["/usr/bin/env"], "command": ["sh", "-c", "echo hi; sleep 60"],
        "env": {"A": 1, "B": "x"}, "user": "nobody:nogroup", "working_dir": "/tmp", "hostname": "full-host",
        "volumes": ["%s:/host:ro" % host_dir, "namedvol:/named"],
        "mounts": [{"type": "tmpfs", "target": "/scratch", "options": "size=1m"}],
        "read_only": True, "tmpfs": ["/run:size=2m"], "cap_add": ["net_admin"], "cap_drop": ["MKNOD"],
        "privileged": False, "no_new_privileges": True, "memory": "64m", "cpus": 0.5, "pids_limit": 64,
        "ulimits": ["nofile=512:1024"], "sysctls": {"net.ipv4.ip_forward": 1}, "labels": {"app": "x"},
        "annotations": {"a": "b"}, "stop_signal": "TERM", "stop_timeout": 0, "restart_policy": "on-failure:3",
        "runtime": "runc", "network": "none", "pull": "missing",
    }


#: option -> (new value, the field of the normalised container that must differ)
CHANGES = {
    "command": (["sh", "-c", "sleep 61"], "args"),
    "entrypoint": (["/bin/env"], "args"),
    "env": ({"A": 2, "B": "x"}, "env"),
    "user": ("nobody", "user"),
    "working_dir": ("/", "working_dir"),
    "hostname": ("other", "hostname"),
    "volumes": (["namedvol:/named"], "volumes"),
    "mounts": ([{"type": "tmpfs", "target": "/scratch", "options": "size=2m"}], "mounts"),
    "read_only": (False, "read_only"),
    "tmpfs": (["/run:size=3m"], "tmpfs"),
    "cap_add": ([], "capabilities"),
    "cap_drop": ([], "capabilities"),
    "privileged": (True, "privileged"),
    "no_new_privileges": (False, "no_new_privileges"),
    "memory": ("65m", "memory"),
    "cpus": (1.0, "cpus"),
    "pids_limit": (65, "pids_limit"),
    "ulimits": (["nofile=256:1024"], "ulimits"),
    "sysctls": ({"net.ipv4.ip_forward": 0}, "sysctls"),
    "labels": ({"app": "y"}, "labels"),
    "annotations": ({"a": "c"}, "annotations"),
    "stop_signal": ("INT", "stop_signal"),
    "stop_timeout": (1, "stop_timeout"),
    "restart_policy": ("always", "restart_policy"),
    "network": ("host", "network"),
}
#: the same intention spelled another way: no change
EQUIVALENT = {"memory": 67108864, "cap_drop": ["cap_mknod"], "cap_add": ["NET_ADMIN", "CAP_NET_ADMIN"],
              "env": {"A": "1", "B": "x"}, "ulimits": {"RLIMIT_NOFILE": "512:1024"}, "stop_signal": "SIGTERM",
              "restart_policy": "ON-FAILURE:3", "tmpfs": ["/run:size=2097152"],
              "sysctls": {"net.ipv4.ip_forward": "1"}}


def mounts_below(path):
    path = os.path.realpath(str(path))
    return [e["point"] for e in M.mountinfo() if e["point"].startswith(path + "/")]


def test_idempotency_corpus(tmp_path, registry, busybox):
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    args = base_args(tmp_path, registry, busybox.ref, host_dir)
    check = {"check_mode": True, "diff": True}
    tasks = [("undock.oci.oci_container", args, check),
             ("undock.oci.oci_container", args, {"diff": True}),
             ("undock.oci.oci_container", args, {"diff": True}),
             ("undock.oci.oci_container", args, check)]
    tasks += [("undock.oci.oci_container", dict(args, **{k: v}), check) for k, v in EQUIVALENT.items()]
    tasks += [("undock.oci.oci_container", dict(args, **{k: v[0]}), check) for k, v in CHANGES.items()]
    tasks += [("undock.oci.oci_container", dict(args, memory="96m"), {"diff": True}),
              ("undock.oci.oci_container", dict(args, memory="96m"), {}),
              ("undock.oci.oci_container", dict(args, state="absent"), {"diff": True})]
    results = run_tasks(tasks)
    dry, created, again, again_check = results[:4]
    equivalent = results[4:4 + len(EQUIVALENT)]
    changes = results[4 + len(EQUIVALENT):4 + len(EQUIVALENT) + len(CHANGES)]
    changed, unchanged, removed = results[-3:]

    assert dry["changed"] and not dry.get("failed"), dry
    assert dry["container"]["state"] == "running" and dry["container"]["bundle"] is None
    assert created["changed"] and not created.get("failed"), created.get("msg")
    container = created["container"]
    assert container["state"] == "running", container
    assert container["config"]["memory"] == 64 << 20 and container["config"]["env"]["A"] == "1"
    assert created["diff"]["before"] == {} and created["diff"]["after"]["capabilities"] == container["config"][
        "capabilities"]
    assert not again["changed"] and again["actions"] == [], again["actions"]
    assert not again_check["changed"], again_check["actions"]
    for (option, value), result in zip(EQUIVALENT.items(), equivalent):
        assert not result.get("failed"), (option, result.get("msg"))
        assert not result["changed"], (option, value, result["actions"])
    for (option, (value, field)), result in zip(CHANGES.items(), changes):
        assert not result.get("failed"), (option, result.get("msg"))
        assert result["changed"], (option, value)
        before, after = result["diff"]["before"], result["diff"]["after"]
        assert before[field] != after[field], (option, field, before[field])
        assert "recreate container full: these fields changed: " in result["actions"][0], result["actions"]
        assert field in result["actions"][0], (option, result["actions"][0])

    assert changed["changed"] and changed["diff"]["after"]["memory"] == 96 << 20
    assert changed["container"]["state"] == "running", changed["container"]
    assert changed["container"]["config"]["memory"] == 96 << 20
    assert "recreate container full: these fields changed: memory" in changed["actions"]
    assert not unchanged["changed"], unchanged["actions"]
    assert removed["changed"] and removed["container"] is None
    assert not mounts_below(tmp_path)
    assert not os.path.exists(tmp_path / "store" / "containers" / "full")


def test_running_container_shows_the_limit(tmp_path, registry, busybox):
    """The memory limit reaches the container's cgroup, and the process runs as the user asked."""
    args = dict(storage_root=str(tmp_path / "store"), run_root=str(tmp_path / "run"),
                registries_conf=registries_conf(str(tmp_path / "conf"), registry.host),
                auth_file=str(tmp_path / "conf" / "auth.json"), name="limited", image=busybox.ref, memory="48m",
                user="nobody", stop_timeout=0,
                command=["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; id -u; sleep 60"])
    started, = run_tasks([("undock.oci.oci_container", args, {})])
    try:
        assert started["container"]["state"] == "running", started
        deadline = time.monotonic() + 10
        logs = []
        while time.monotonic() < deadline and len(logs) < 2:
            with open(started["container"]["log_path"]) as handle:
                logs = handle.read().splitlines()
            time.sleep(0.05)
        assert logs[:2] == [str(48 << 20), "65534"], logs
    finally:
        removed, = run_tasks([("undock.oci.oci_container", dict(args, state="absent"), {})])
    assert removed["changed"] and not mounts_below(tmp_path)
