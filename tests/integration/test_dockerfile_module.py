# -*- coding: utf-8 -*-
"""oci_build with a Dockerfile through real Ansible: check mode builds and writes nothing,
--diff says what changed, the same task again is changed: false, a changed context file
rebuilds and is named, a bad Dockerfile fails with its line, never a traceback."""

from __future__ import annotations

import os

import pytest

from harness import images as I
from harness.ansible import run_tasks
from harness.engine import registries_conf

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="builds need root (overlay mounts, runc)")


@pytest.fixture(scope="module")
def busybox(session_registry):
    return I.push_layers(session_registry, "dockerfile-module/busybox", "1", [I.tar_layer(I.busybox_entries())])


def test_module_dockerfile_check_diff_idempotent(tmp_path, registry, busybox):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "motd").write_text("v1\n")
    (ctx / "Containerfile").write_text("""ARG BASE
FROM $BASE AS base
ARG WHO=nobody
RUN --mount=type=secret,id=tok test -s /run/secrets/tok && echo "hello $WHO" > /hello
FROM base
COPY motd /etc/motd
CMD ["cat", "/hello", "/etc/motd"]
""")
    (tmp_path / "tok").write_text("token-value\n")
    store = tmp_path / "store"
    common = {"storage_root": str(store), "run_root": str(tmp_path / "run"),
              "registries_conf": registries_conf(str(tmp_path / "conf"), registry.host),
              "auth_file": str(tmp_path / "conf" / "auth.json")}
    build = dict(common, name="localhost/dockerfile-module/app:1", containerfile=str(ctx / "Containerfile"),
                 build_args={"BASE": busybox.ref, "WHO": "ansible"}, secrets={"tok": str(tmp_path / "tok")},
                 source_date_epoch=1700000000)
    inline = dict(common, name="localhost/dockerfile-module/inline:1", context=str(ctx),
                  containerfile_text="FROM %s\nRUN echo inline > /inline\n" % busybox.ref)
    results = run_tasks([
        ("undock.oci.oci_build", build, {"check_mode": True, "diff": True}),
        ("undock.oci.oci_build", build, {"diff": True}),
        ("undock.oci.oci_build", build, {"diff": True}),
        ("ansible.builtin.copy", {"dest": str(ctx / "motd"), "content": "v2\n"}, {}),
        ("undock.oci.oci_build", build, {"check_mode": True, "diff": True}),
        ("undock.oci.oci_build", build, {"diff": True}),
        ("undock.oci.oci_build", inline, {}),
        ("undock.oci.oci_build", inline, {}),
        ("undock.oci.oci_build", dict(inline, containerfile_text="FROM %s\nBOGUS x\n" % busybox.ref), {}),
        ("undock.oci.oci_build", dict(inline, steps=[{"from": busybox.ref}]), {}),
    ])
    check, built, again, dummy, check2, rebuilt, made, same, bad, both = results
    assert check["changed"] and not check.get("failed"), check
    assert check["actions"][-1].startswith("would build") and check["diff"]["after"]["digest"] is None
    assert built["changed"] and built["image"]["name"] == "localhost/dockerfile-module/app:1", built
    assert built["changed_inputs"] == ["image"]
    assert built["image"]["config"]["Cmd"] == ["cat", "/hello", "/etc/motd"]
    assert not again["changed"] and again["image"]["digest"] == built["image"]["digest"], again
    assert check2["changed"] and check2["changed_inputs"] == ["context:motd"], check2
    assert rebuilt["changed"] and rebuilt["changed_inputs"] == ["context:motd"], rebuilt
    assert rebuilt["image"]["digest"] != built["image"]["digest"]
    assert rebuilt["image"]["layers"][:2] == built["image"]["layers"][:2]  # base and the RUN: from the cache
    assert made["changed"] and not same["changed"], (made, same)
    assert bad.get("failed") and "line 2" in bad["msg"] and "BOGUS" in bad["msg"].upper(), bad
    assert "Traceback" not in bad.get("module_stderr", "")
    assert both.get("failed") and "mutually exclusive" in both["msg"], both
    assert "token-value" not in str(results)
