# -*- coding: utf-8 -*-
"""oci_container_info through ansible-playbook with real runc: one container, a list with a
missing name, all of them, check mode; the record is the one oci_container returns; the log
tail follows log_lines."""

from __future__ import annotations

import os

import pytest

from harness import images as I
from harness.ansible import run_tasks
from harness.engine import registries_conf

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")
FIELDS = {"name", "state", "pid", "exit_code", "started_at", "finished_at", "restart_count", "image", "image_digest",
          "bundle", "ip_address", "ports", "logs", "network"}


@pytest.fixture(scope="module")
def busybox(session_registry):
    return I.push_layers(session_registry, "containers/info-busybox", "1", [I.tar_layer(I.busybox_entries())])


def test_info_one_list_all_and_check_mode(tmp_path, registry, busybox):
    store = {"storage_root": str(tmp_path / "store"), "run_root": str(tmp_path / "run")}
    pull = dict(store, registries_conf=registries_conf(str(tmp_path / "conf"), registry.host),
                auth_file=str(tmp_path / "conf" / "auth.json"), image=busybox.ref, network="none", stop_timeout=0)
    results = run_tasks([
        ("undock.oci.oci_container", dict(pull, name="talker", command="sh -c 'echo one; echo two; sleep 60'"), {}),
        ("undock.oci.oci_container", dict(pull, name="quiet", command="true", state="present"), {}),
        ("undock.oci.oci_container_info", dict(store, name="talker", log_lines=1),
         {"until": "r2.containers[0].logs == ['two']", "retries": 40, "delay": 0.25}),
        ("ansible.builtin.stat", {"path": "{{ r2.containers[0].bundle }}/config.json"}, {}),
        ("undock.oci.oci_container_info", dict(store, names=["quiet", "nosuch"]), {}),
        ("undock.oci.oci_container_info", dict(store), {"check_mode": True}),
        ("undock.oci.oci_container", dict(store, name="talker", state="absent"), {}),
        ("undock.oci.oci_container", dict(store, name="quiet", state="absent"), {}),
        ("undock.oci.oci_container_info", dict(store), {}),
    ])
    for number, result in enumerate(results):
        assert not result.get("failed"), (number, result.get("msg"))
    created, present, one, config, some, every, _, _, after = results
    talker = one["containers"][0]
    assert not one["changed"] and one["missing"] == []
    assert FIELDS <= set(talker), FIELDS - set(talker)
    assert talker["state"] == "running" and talker["pid"] and talker["logs"] == ["two"]
    assert talker["bundle"] == created["container"]["bundle"] and os.path.isabs(talker["bundle"])
    assert config["stat"]["exists"] and config["stat"]["path"] == os.path.join(talker["bundle"], "config.json")
    assert (talker["network"], talker["ip_address"], talker["ports"]) == ("none", None, [])
    # the same record as oci_container's (fields that move with time aside)
    moving = {"logs", "state", "pid", "started_at", "supervised"}
    assert {k: v for k, v in talker.items() if k not in moving} == \
        {k: v for k, v in created["container"].items() if k not in moving}
    assert [c["name"] for c in some["containers"]] == ["quiet"] and some["missing"] == ["nosuch"]
    assert some["containers"][0]["state"] == "created" and some["containers"][0]["exit_code"] is None
    assert [c["name"] for c in every["containers"]] == ["quiet", "talker"] and not every["changed"]
    assert after["containers"] == [] and after["missing"] == []


def test_info_on_a_store_that_does_not_exist_creates_nothing(tmp_path):
    store = {"storage_root": str(tmp_path / "store"), "run_root": str(tmp_path / "run")}
    result = run_tasks([("undock.oci.oci_container_info", dict(store, name="x"), {})])[0]
    assert not result.get("failed"), result.get("msg")
    assert result["containers"] == [] and result["missing"] == ["x"]
    assert not os.path.exists(store["storage_root"])
