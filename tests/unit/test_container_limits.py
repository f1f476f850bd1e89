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


LIMITS = dict(memory="64m", cpus=0.5, pids_limit=64)


@pytest.mark.parametrize("change", [{"memory": "96m"}, {"cpus": 2}, {"pids_limit": 10}, {"memory": None},
                                    {"cpus": None, "pids_limit": None}, {"memory": "1g", "cpus": 0.25, "pids_limit": 5}])
def test_limit_changes_are_updated_in_place(change):
    before, after = desired(**LIMITS), desired(**dict(LIMITS, **change))
    assert O.differences(before, after) == sorted(change) and in_place(before, after)


def test_every_other_field_recreates():
    record = desired(memory="64m")
    assert set(IN_PLACE) < set(record)
    changed = {"name": "other", "image": "example.com/img:2", "image_digest": "sha256:" + "b" * 64,
               "args": ["/bin/true"], "user": "1", "working_dir": "/tmp", "hostname": "h", "read_only": True,
               "privileged": True, "no_new_privileges": True, "stop_timeout": 3, "runtime": "crun"}
    for field in set(record) - set(IN_PLACE):
        other = dict(record, **{field: changed.get(field, ["something else"])})
        assert other[field] != record[field]
        assert not in_place(record, other), field
        assert not in_place(record, dict(other, memory=1 << 30)), field  # a limit mixed with another change
    assert not in_place(record, dict(record))  # nothing differs: nothing to update


def test_ulimits_are_not_cgroup_limits():
    assert not in_place(desired(ulimits=["nofile=512:1024"]), desired(ulimits=["nofile=256:1024"]))


def test_crun_cannot_lift_cpus_or_pids_limit():
    before = desired(runtime="crun", **LIMITS)
    assert in_place(before, desired(runtime="crun", **dict(LIMITS, memory=None, cpus=1, pids_limit=10)))
    assert not in_place(before, desired(runtime="crun", **dict(LIMITS, cpus=None)))
    assert not in_place(before, desired(runtime="/usr/bin/crun", **dict(LIMITS, pids_limit=None)))
    assert in_place(desired(**LIMITS), desired(**dict(LIMITS, cpus=None, pids_limit=None)))  # runc lifts them


def test_update_arguments_set_the_limits_that_change():
    before = desired(**LIMITS)
    assert update_arguments(before, desired(memory="96m", cpus=1, pids_limit=8)) == [
        "--memory", str(96 << 20), "--cpu-period", "100000", "--cpu-quota", "100000", "--pids-limit", "8"]
    assert update_arguments(before, desired(**dict(LIMITS, pids_limit=8))) == ["--pids-limit", "8"]
    # a limit no longer set is lifted
    assert update_arguments(before, desired()) == ["--memory", "-1", "--cpu-period", "100000", "--cpu-quota", "-1",
                                                   "--pids-limit", "-1"]
    cpus = update_arguments(before, desired(**dict(LIMITS, cpus=1.2346)))
    assert cpus == ["--cpu-period", "100000", "--cpu-quota", "123500"]  # 3 decimals, as in config.json


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
