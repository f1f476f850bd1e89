# -*- coding: utf-8 -*-
"""The no-op answered from a container's files (runtime/quick.py): on a real running
container it gives exactly what the full path gives, and it steps aside (None) whenever
the full path could do something or resolve the image differently."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from harness import images as I
from harness.engine import service

from ansible_collections.undock.oci.plugins.module_utils.runtime.containers import Containers
from ansible_collections.undock.oci.plugins.module_utils.runtime.quick import unchanged
from ansible_collections.undock.oci.plugins.module_utils.runtime.service import ContainerService, container_options

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


@pytest.fixture(scope="module")
def busybox(session_registry):
    return I.push_layers(session_registry, "quick/busybox", "1", [I.tar_layer(I.busybox_entries())])


@pytest.fixture
def running(tmp_path, registry, busybox):
    """A container started the way the module starts one, with the module's defaults."""
    svc = service(tmp_path, registry)
    params = dict(container_options({}), name="quick", image=busybox.ref, command=["sleep", "60"], state="started",
                  pull="missing", stop_timeout=0, read_only=False, privileged=False, no_new_privileges=False,
                  restart_policy="no", runtime="runc", network="none", recreate=False, force_restart=False)
    engine = ContainerService(svc)
    assert engine.ensure(params).changed
    yield svc, engine, params
    manager = Containers(svc.store(), svc.run_root)
    for name in manager.names():
        manager.remove(name)


def quick(svc, params, log_lines=20):
    return unchanged(svc.storage_root, svc.run_root, params, log_lines=log_lines)


def test_same_answer_as_the_full_path(running):
    svc, engine, params = running
    fast = quick(svc, params)
    full = engine.ensure(params).result()
    assert fast is not None and full["changed"] is False
    assert fast == full
    assert fast["container"]["state"] == "running" and fast["image"]["name"] == params["image"]
    assert quick(svc, dict(params, state="present")) == engine.ensure(dict(params, state="present")).result()


@pytest.mark.parametrize("change", [
    {"memory": "64m"},                    # another option: the full path compares (here: updates in place)
    {"env": {"A": "1"}},
    {"pull": "always"},                   # may fetch a new digest
    {"pull": "newer"},
    {"recreate": True},
    {"force_restart": True},
    {"state": "restarted"},
    {"state": "stopped"},
    {"state": "absent"},
    {"name": "other"},                    # no such container
])
def test_steps_aside_when_the_full_path_could_act(running, change):
    svc, dummy, params = running
    assert quick(svc, dict(params, **change)) is None


def test_short_names_and_digests_go_the_full_way(running, busybox):
    svc, dummy, params = running
    assert quick(svc, dict(params, image="quick/busybox:1")) is None
    assert quick(svc, dict(params, image=busybox.by_digest)) is None


def test_a_moved_tag_or_an_old_record_goes_the_full_way(running):
    svc, dummy, params = running
    index_path = os.path.join(svc.storage_root, "index.json")
    with open(index_path) as handle:
        index = json.load(handle)
    index["manifests"][0] = dict(index["manifests"][0], digest="sha256:" + "0" * 64)
    with open(index_path, "w") as handle:
        json.dump(index, handle)
    assert quick(svc, params) is None

    record_path = os.path.join(svc.storage_root, "containers", "quick", "container.json")
    with open(record_path) as handle:
        record = json.load(handle)
    record.pop("fingerprint")
    with open(record_path, "w") as handle:
        json.dump(record, handle)
    assert quick(svc, params) is None


def test_a_dead_container_is_not_a_no_op_for_started(running):
    svc, engine, params = running
    info = engine.info(["quick"])[0]
    subprocess.run(["kill", "-9", str(info["pid"])], check=True, timeout=10)
    for dummy in range(200):
        status = engine.info(["quick"])[0]
        if status["state"] == "stopped" and not status["supervised"]:
            break
        subprocess.run(["sleep", "0.05"], check=True)
    assert quick(svc, params) is None
    present = quick(svc, dict(params, state="present"))
    assert present is not None and present["container"]["state"] == "stopped"
    assert present == engine.ensure(dict(params, state="present")).result()


def test_a_container_updated_in_place_is_a_no_op_again(running):
    """An update in place keeps the fingerprint of the task that asked for it."""
    svc, engine, params = running
    pid = engine.info(["quick"])[0]["pid"]
    limited = dict(params, memory="64m")
    updated = engine.ensure(limited)
    assert updated.changed and updated.actions == ["updated container quick in place: memory"], updated.actions
    fast = quick(svc, limited)
    assert fast is not None and fast["container"]["pid"] == pid and fast["container"]["config"]["memory"] == 64 << 20
    assert fast == engine.ensure(limited).result()
    assert quick(svc, params) is None  # the old options differ now
