# -*- coding: utf-8 -*-
"""system_container and system_container_info through ansible-playbook, on this machine
where PID 1 is not systemd: contradictory options fail before anything is done, a real run
fails with a message saying systemd must be PID 1 (and writes nothing), check mode plans
with a warning and shows the unit and value changes with --diff, and system_container_info
reads an empty and a populated system_root. The system_root is populated through the engine
with its recorded systemd seam (harness/systemd.py); the states of the module map onto the
engine the same way (request.ensure), checked here with that seam for idempotence. The
node tests (tests/node/test_system_container.py) run all of it under a real systemd."""

from __future__ import annotations

import json
import os
import re

import pytest

from harness import images as I
from harness.ansible import run_tasks
from harness.engine import registries_conf, service
from harness.systemd import RecordingSystemd

from ansible_collections.undock.oci.plugins.module_utils.system.errors import SystemContainerError
from ansible_collections.undock.oci.plugins.module_utils.system.request import check_request, diff_list, ensure
from ansible_collections.undock.oci.plugins.module_utils.system.service import SystemContainers

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="checkouts keep owners and runc needs root")

SERVICE_TEMPLATE = """\
[Unit]
Description=kv $NAME on port $PORT

[Service]
ExecStart=$EXEC_START
ExecStopPost=$EXEC_STOPPOST
WorkingDirectory=$DESTDIR
"""


def kv_layers(version):
    files = [I.Entry("exports/", "dir", mode=0o755),
             I.Entry("exports/service.template", data=SERVICE_TEMPLATE.encode()),
             I.Entry("exports/manifest.json", data=json.dumps({"defaultValues": {"PORT": "2379"}}).encode()),
             I.Entry("etc/", "dir", mode=0o755),
             I.Entry("etc/kv-version", data=("%s\n" % version).encode())]
    return [I.tar_layer(I.busybox_entries()), I.tar_layer(files)]


@pytest.fixture(scope="module")
def kv_images(session_registry):
    return [I.push_layers(session_registry, "system/kv", str(v), kv_layers(v)) for v in (1, 2)]


@pytest.fixture
def setup(tmp_path, registry):
    conf = str(tmp_path / "conf")
    store = {"storage_root": str(tmp_path / "store"), "run_root": str(tmp_path / "run")}
    pull = dict(store, registries_conf=registries_conf(conf, registry.host), auth_file=os.path.join(conf, "auth.json"))
    images = service(tmp_path, registry, storage_root=store["storage_root"], run_root=store["run_root"])
    host = tmp_path / "host"
    host.mkdir()
    engine = SystemContainers(images, host_root=str(host), systemd=RecordingSystemd())
    return {"store": store, "pull": pull, "engine": engine, "images": images, "host": host, "tmp": tmp_path}


def test_contradictory_and_bad_options_fail_before_anything(setup, kv_images):
    pull, store = setup["pull"], setup["store"]
    module = "undock.oci.system_container"
    kv = kv_images[0].ref
    cases = [
        (dict(pull, name="kv", image=kv, rollback=True), "rollback returns to the previous deployment .* no image"),
        (dict(pull, name="kv", rollback=True, values={"PORT": 1}, after=["a.service"]), "takes no values, after"),
        (dict(pull, name="kv", rollback=True, state="absent"), "rollback and state=absent contradict"),
        (dict(pull, name="kv", state="absent", values={"PORT": 1}), "state=absent removes .*; values describes"),
        (dict(pull, name="kv", state="absent", image=kv, listen=["80"]), "image, listen describe what to deploy"),
        (dict(pull, name="k.v", image=kv), "system container name 'k.v' is invalid"),
        (dict(pull, name="kv", image=kv, listen=["example.com:80"]), "is not an IP address"),
        (dict(pull, name="kv", image=kv, after=["store"]), "after: 'store' is not a systemd unit name"),
        (dict(pull, name="kv", image=kv, system_root="/srv/my system"), "system_root '/srv/my system': use only"),
        (dict(pull, name="kv", state="stopped"), "system container kv is not installed: give image to install it"),
        (dict(pull, name="kv", rollback=True), "system container kv is not installed: nothing to roll back"),
        (dict(pull, name="kv", image=kv, network="bridge"), "value of network must be one of: host, none"),
    ]
    results = run_tasks([(module, args, {}) for args, dummy in cases]
                        + [(module, dict(store, name="kv", state="absent"), {})])
    for (args, pattern), result in zip(cases, results):
        assert result.get("failed"), (args, result)
        assert "Traceback" not in result.get("module_stderr", ""), result
        assert re.search(pattern, result["msg"]), (pattern, result["msg"])
    absent = results[-1]
    assert not absent.get("failed") and absent["changed"] is False and absent["system_container"] is None, absent
    # nothing was pulled or made: the store was never created
    assert not os.path.exists(os.path.join(store["storage_root"], "index.json"))


def test_without_systemd_a_run_fails_clearly_and_check_mode_plans(setup, kv_images):
    pull, store = setup["pull"], setup["store"]
    kv = kv_images[0].ref
    task = dict(pull, name="kv", image=kv, values={"PORT": 4001})
    results = run_tasks([
        ("undock.oci.system_container", task, {}),
        ("undock.oci.oci_image", dict(pull, name=kv), {}),  # the image in the store: check mode renders it
        ("undock.oci.system_container", task, {"check_mode": True, "diff": True}),
        ("undock.oci.system_container_info", dict(store), {}),
    ])
    failed, pulled, planned, info = results
    assert failed.get("failed") and "Traceback" not in failed.get("module_stderr", ""), failed
    assert failed["msg"].startswith("systemd is not the init system here (PID 1 is not systemd"), failed["msg"]
    assert "system containers run as systemd units" in failed["msg"]
    assert not pulled.get("failed"), pulled.get("msg")
    assert not planned.get("failed"), planned.get("msg")
    assert planned["changed"] and planned["system_container"] is None
    assert any("systemd is not the init system" in w for w in planned["warnings"]), planned
    assert any(a.startswith("would install system container kv from") for a in planned["actions"]), planned
    assert "would enable kv.service" in planned["actions"] and "would start kv.service" in planned["actions"]
    record, *files = planned["diff"]
    assert record["before"] == "" and "values:\n" in record["after"] and "  PORT: 4001\n" in record["after"]
    assert "digest: sha256:" in record["after"]
    shown = {f["after_header"]: f for f in files}
    assert set(shown) == {"config.json", "kv.service"}, shown
    assert shown["kv.service"]["before"] == "" and "Description=kv kv on port 4001" in shown["kv.service"]["after"]
    assert info["system_containers"] == [] and info["missing"] == []
    # check mode wrote nothing: no deployment, no temporary checkout left
    assert not os.path.exists(os.path.join(store["storage_root"], "system"))
    tmp = os.path.join(store["storage_root"], "tmp")
    assert not [n for n in (os.listdir(tmp) if os.path.isdir(tmp) else []) if n.startswith(".tmp-system-")]


def test_info_and_check_mode_on_a_populated_system_root(setup, kv_images):
    pull, store, engine = setup["pull"], setup["store"], setup["engine"]
    first, second = kv_images
    engine.install({"name": "kv", "image": first.ref, "values": {"PORT": 4001}}, start=True, enabled=True)
    engine.install({"name": "kv", "image": second.ref, "values": {"PORT": 4001}}, start=True, enabled=True)
    engine.install({"name": "web", "image": first.ref, "listen": ["127.0.0.1:8080"]})
    same = dict(pull, name="kv", image=second.ref, values={"PORT": 4001}, state="present", enabled=False)
    results = run_tasks([
        ("undock.oci.system_container_info", dict(store), {}),
        ("undock.oci.system_container_info", dict(store, name="kv"), {}),
        ("undock.oci.system_container_info", dict(store, names=["web", "nosuch"]), {"check_mode": True}),
        ("undock.oci.system_container_info", dict(store, system_root=os.path.join(str(setup["tmp"]), "empty")), {}),
        # no systemd here: every unit reads as inactive and disabled, so this asks for no change
        ("undock.oci.system_container", same, {"check_mode": True, "diff": True}),
        ("undock.oci.system_container", dict(same, values={"PORT": 4002}), {"check_mode": True, "diff": True}),
        ("undock.oci.system_container", dict(store, name="kv", rollback=True), {"check_mode": True, "diff": True}),
        ("undock.oci.system_container", dict(store, name="kv", state="absent"), {"check_mode": True, "diff": True}),
        ("undock.oci.system_container", dict(store, name="kv", state="stopped"), {}),
    ])
    for number, result in enumerate(results[:-1]):
        assert not result.get("failed"), (number, result.get("msg"))
    every, one, some, empty, unchanged, values, rollback, absent, real = results
    assert [r["name"] for r in every["system_containers"]] == ["kv", "web"] and not every["changed"]
    kv = one["system_containers"][0]
    assert kv["image"] == second.ref and kv["digest"] == second.digest and kv["active_slot"] == 1
    assert kv["values"]["PORT"] == "4001" and kv["units"] == ["kv.service"]
    assert kv["active"] == {"kv.service": False} and kv["enabled"] == {"kv.service": False}
    slots = [(d["slot"], d["digest"], d["active"]) for d in kv["deployments"]]
    assert slots == [(0, first.digest, False), (1, second.digest, True)]
    assert kv == every["system_containers"][0]
    web = some["system_containers"][0]
    assert web["units"] == ["web.service", "web.socket"] and some["missing"] == ["nosuch"]
    assert web["options"]["listen"] == ["ListenStream=127.0.0.1:8080"]
    assert empty["system_containers"] == [] and empty["missing"] == []
    assert unchanged["changed"] is False and unchanged["actions"] == [], unchanged
    assert unchanged["system_container"] == kv
    assert all(d["before"] == d["after"] for d in unchanged["diff"])
    assert values["changed"] and values["system_container"] == kv  # check mode: as it is now
    record, *files = values["diff"]
    assert "  PORT: 4001\n" in record["before"] and "  PORT: 4002\n" in record["after"]
    service_diff = [f for f in files if f["after_header"] == "kv.service"][0]
    assert "on port 4001" in service_diff["before"] and "on port 4002" in service_diff["after"]
    assert any("would update system container kv" in a for a in values["actions"]), values["actions"]
    assert rollback["changed"] and "digest: %s" % first.digest in rollback["diff"][0]["after"]
    assert absent["changed"] and absent["diff"][0]["after"] == ""
    assert [f["after_header"] for f in absent["diff"][1:]] == ["config.json (none)", "kv.service (none)"]
    # outside check mode the same stop is refused, systemd not being PID 1
    assert real.get("failed") and "systemd is not the init system" in real["msg"], real
    # nothing of it changed the deployments
    assert engine.info(["kv"])[0]["active_slot"] == 1 and engine.deployments.info("kv", 1)["values"]["PORT"] == "4001"


def test_states_map_onto_the_engine_idempotently(setup, kv_images):
    """request.ensure, what the module calls, with the recorded seam: each state twice."""
    engine, systemd = setup["engine"], setup["engine"].systemd
    first, second = kv_images
    base = {"name": "kv", "image": first.ref, "enabled": True, "pull": "missing"}
    steps = [
        (dict(base, state="started"), True, ["systemctl daemon-reload", "systemctl enable kv.service",
                                             "systemctl start kv.service"]),
        (dict(base, state="stopped"), True, ["systemctl stop kv.service"]),
        (dict(base, state="present", enabled=False), True, ["systemctl disable kv.service"]),
        ({"name": "kv", "state": "started", "enabled": True}, True, ["systemctl enable kv.service",
                                                                     "systemctl start kv.service"]),
        (dict(base, image=second.ref, state="started"), True,
         ["systemctl daemon-reload", "systemctl restart kv.service"]),
        ({"name": "kv", "rollback": True, "state": "started", "enabled": True}, True,
         ["systemctl daemon-reload", "systemctl restart kv.service"]),
        ({"name": "kv", "state": "absent"}, True, ["systemctl stop kv.service", "systemctl disable kv.service",
                                                   "systemctl daemon-reload"]),
    ]
    for params, changed, calls in steps:
        out = ensure(engine, params)
        assert out.changed is changed, (params, out.actions)
        assert [" ".join(c) for c in systemd.changes()] == calls, params
        again = ensure(engine, params)
        assert again.changed is False, (params, again.actions)
        assert systemd.changes() == [], params
    assert engine.info() == []
    assert sorted(str(p.relative_to(setup["host"])) for p in setup["host"].rglob("*")) == [
        "etc", "etc/systemd", "etc/systemd/system"]


def test_check_request_and_diff_list_directly():
    with pytest.raises(SystemContainerError, match="state must be one of"):
        check_request({"name": "kv", "state": "running"})
    check_request({"name": "kv", "state": "absent", "values": {}, "after": []})  # empty is not given
    diffs = diff_list("kv", {}, {"image": "i", "digest": "d", "values": {"A": "1"}, "kv.service": "x\n"})
    assert diffs == [{"before_header": "system container kv", "after_header": "system container kv", "before": "",
                      "after": "image: i\ndigest: d\nvalues:\n  A: 1\n"},
                     {"before_header": "kv.service (none)", "after_header": "kv.service", "before": "",
                      "after": "x\n"}]
