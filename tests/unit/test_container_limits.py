# -*- coding: utf-8 -*-
"""Which differences runc changes in place (runtime/limits.py), the update flags that set
them, and the config.json a later start runs with."""

from __future__ import annotations

import pytest

from ansible_collections.undock.oci.plugins.module_utils.runtime import options as O
from ansible_collections.undock.oci.plugins.module_utils.runtime.limits import IN_PLACE, in_place, update_arguments
from ansible_collections.undock.oci.plugins.module_utils.runtime.spec import build_spec, linux_resources, with_resources
from ansible_collections.undock.oci.plugins.module_utils.runtime.users import ProcessUser

IMAGE = {"config": {"Cmd": ["/bin/sh"]}}


def desired(**params):
    params.setdefault("name", "web")
    return O.normalize(params, IMAGE, "example.com/img:1", "sha256:" + "a" * 64)


@pytest.mark.parametrize("change", [{"memory": "96m"}, {"cpus": 2}, {"pids_limit": 10}, {"memory": None},
                                    {"cpus": None, "pids_limit": None}, {"memory": "1g", "cpus": 0.25, "pids_limit": 5}])
def test_limit_changes_are_updated_in_place(change):
    before = desired(memory="64m", cpus=0.5, pids_limit=64)
    fields = O.differences(before, desired(**dict(dict(memory="64m", cpus=0.5, pids_limit=64), **change)))
    assert fields == sorted(change) and in_place(fields)


def test_every_other_field_recreates():
    record = desired(memory="64m")
    assert set(IN_PLACE) < set(record)
    for field in set(record) - set(IN_PLACE):
        assert not in_place([field]), field
        assert not in_place(["memory", field]), field  # a limit mixed with any other change recreates
    assert not in_place([])  # nothing differs: nothing to update


def test_ulimits_are_not_cgroup_limits():
    fields = O.differences(desired(ulimits=["nofile=512:1024"]), desired(ulimits=["nofile=256:1024"]))
    assert fields == ["ulimits"] and not in_place(fields)


def test_update_arguments_set_every_limit():
    assert update_arguments(desired(memory="64m", cpus=0.5, pids_limit=64)) == [
        "--memory", str(64 << 20), "--cpu-period", "100000", "--cpu-quota", "50000", "--pids-limit", "64"]
    # a limit that is not set is lifted, whatever the container had
    assert update_arguments(desired()) == ["--memory", "-1", "--cpu-period", "100000", "--cpu-quota", "-1",
                                           "--pids-limit", "-1"]
    assert update_arguments(desired(cpus=1.2346))[5] == "123500"  # cpus keep 3 decimals, as in config.json


def test_config_json_takes_the_new_resources_only():
    old, new = desired(memory="64m", cpus=0.5), desired(memory="96m", pids_limit=7)
    spec = build_spec(old, ProcessUser(0, 0), {}, {})
    updated = with_resources(spec, new)
    assert updated["linux"]["resources"] == linux_resources(new) == {
        "devices": [{"allow": False, "access": "rwm"}], "memory": {"limit": 96 << 20}, "pids": {"limit": 7}}
    assert {k: v for k, v in updated["linux"].items() if k != "resources"} == {
        k: v for k, v in spec["linux"].items() if k != "resources"}
    assert {k: v for k, v in updated.items() if k != "linux"} == {k: v for k, v in spec.items() if k != "linux"}
    assert spec["linux"]["resources"] == linux_resources(old)  # a copy: the spec given is not changed
