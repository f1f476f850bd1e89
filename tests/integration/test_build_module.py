# -*- coding: utf-8 -*-
"""oci_build through real Ansible: check mode writes nothing, a build, the same task again is
changed: false, push sends it to the registry (skopeo reads it there), bad steps fail with a
message naming the step, and oci_container runs what was built."""

from __future__ import annotations

import json
import os

import pytest

from harness import images as I
from harness.ansible import run_tasks
from harness.engine import registries_conf

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="builds need root (overlay mounts, runc)")

SKOPEO = I.Skopeo()


@pytest.fixture(scope="module")
def busybox(session_registry):
    return I.push_layers(session_registry, "build-module/busybox", "1", [I.tar_layer(I.busybox_entries())])


def test_module_builds_once_pushes_and_runs(tmp_path, registry, busybox):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "motd").write_text("built by oci_build\n")
    common = {"storage_root": str(tmp_path / "store"), "run_root": str(tmp_path / "run"),
              "registries_conf": registries_conf(str(tmp_path / "conf"), registry.host),
              "auth_file": str(tmp_path / "conf" / "auth.json")}
    name = "%s/build-module/web:1" % registry.host
    build = dict(common, name=name, context=str(ctx), source_date_epoch=1700000000, steps=[
        {"from": busybox.ref},
        {"run": ["/bin/sh", "-c", "mkdir -p /srv && echo ran > /srv/ran"]},
        {"copy": {"src": "motd", "dest": "/etc/motd", "chmod": "0644"}},
        {"config": {"cmd": ["/bin/sh", "-c", "cat /etc/motd /srv/ran"]}},
    ])
    container = dict(common, name="from-build", image=name, state="started", pull="never", network="none",
                     restart_policy="no")
    results = run_tasks([
        ("undock.oci.oci_build", build, {"check_mode": True, "diff": True}),
        ("undock.oci.oci_build", build, {"diff": True}),
        ("undock.oci.oci_build", build, {}),
        ("undock.oci.oci_build", dict(build, push=True), {}),
        ("undock.oci.oci_build", dict(build, steps=[{"from": busybox.ref}, {"bogus": 1}]), {}),
        ("undock.oci.oci_container", container, {}),
        ("ansible.builtin.pause", {"seconds": 2}, {}),
        ("undock.oci.oci_container_info", {"name": "from-build", "storage_root": common["storage_root"],
                                           "run_root": common["run_root"]}, {}),
        ("undock.oci.oci_container", dict(container, state="absent"), {}),
    ])
    check, built, again, pushed, bad, started, dummy, info, removed = results
    assert check["changed"] and not check.get("failed"), check
    assert check["actions"][-1].startswith("would build") and check["diff"]["before"]["digest"] is None
    assert check["diff"]["after"]["digest"] is None  # nothing built (the engine test checks nothing is written)
    assert built["changed"] and built["image"]["name"] == name, built
    assert built["diff"]["after"]["digest"] == built["image"]["digest"]
    assert built["changed_inputs"] == ["image"]
    assert not again["changed"] and again["image"]["digest"] == built["image"]["digest"], again
    assert pushed["changed"] and any(a.startswith("pushed") for a in pushed["actions"]), pushed
    raw = SKOPEO.inspect_raw(registry, "build-module/web:1")
    assert json.loads(raw)["layers"][-1]["digest"] == built["image"]["layers"][-1]
    assert bad.get("failed") and "step 2" in bad["msg"] and "unknown step" in bad["msg"], bad
    assert "Traceback" not in bad.get("module_stderr", "")
    assert started["changed"] and not started.get("failed"), started
    assert not info.get("failed"), info
    logs = info["containers"][0]["logs"]
    assert logs[:2] == ["built by oci_build", "ran"], info
    assert removed["changed"]
