# -*- coding: utf-8 -*-
"""The oci_build action through real ansible-playbook: a no-op rebuild answered by the small
oci_build_quick module is exactly what the oci_build module answers itself (normal, check and
diff), a changed input goes to the full module, async and module_defaults reach it, and the
quick module ships a small fraction of oci_build's files."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
import zipfile

import pytest

from harness import images as I
from harness.ansible import BIN, ansible_env, run_tasks
from harness.engine import registries_conf

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="builds need root (overlay mounts, runc)")

NAME = "localhost/action/app:1"


@pytest.fixture(scope="module")
def busybox(session_registry):
    return I.push_layers(session_registry, "action/busybox", "1", [I.tar_layer(I.busybox_entries())])


@pytest.fixture
def build(tmp_path, session_registry, busybox):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "app.txt").write_text("app v1\n")
    (ctx / "Dockerfile").write_text("FROM %s\nCOPY app.txt /srv/\nLABEL app=action\n" % busybox.ref)
    return {"name": NAME, "containerfile": str(ctx / "Dockerfile"), "context": str(ctx), "source_date_epoch": 1700000000,
            "storage_root": str(tmp_path / "store"), "run_root": str(tmp_path / "run"),
            "registries_conf": registries_conf(str(tmp_path / "conf"), session_registry.host)}


def module_path(tmp_path):
    """A directory whose oci_build.py is the module itself (no action plugin has its name), so
    that a task of ``oci_build_direct`` runs the module's own quick path."""
    import ansible_collections.undock.oci as collection
    library = tmp_path / "library"
    library.mkdir()
    os.symlink(os.path.join(list(collection.__path__)[0], "plugins", "modules", "oci_build.py"),
               str(library / "oci_build_direct.py"))
    return str(library)


def without_invocation(result):
    return {key: value for key, value in result.items() if key != "invocation"}


def test_quick_answer_is_the_modules_own(tmp_path, build, monkeypatch):
    monkeypatch.setenv("ANSIBLE_LIBRARY", module_path(tmp_path))
    changed = dict(build)
    results = run_tasks([
        ("undock.oci.oci_build", build, {}),
        ("undock.oci.oci_build", build, {}),
        ("oci_build_direct", build, {}),
        ("undock.oci.oci_build", build, {"check_mode": True}),
        ("oci_build_direct", build, {"check_mode": True}),
        ("undock.oci.oci_build", build, {"diff": True}),
        ("oci_build_direct", build, {"diff": True}),
        ("undock.oci.oci_build_quick", build, {}),
        ("ansible.builtin.copy", {"content": "app v2\n", "dest": os.path.join(build["context"], "app.txt")}, {}),
        ("undock.oci.oci_build_quick", changed, {}),
        ("undock.oci.oci_build", changed, {"diff": True}),
        ("undock.oci.oci_build", dict(build, sign_by="/nonexistent/key"), {}),  # sign_by needs push
    ])
    first, again, direct, check, direct_check, diff, direct_diff, quick, dummy, not_quick, rebuilt, bad = results
    assert first["changed"] and first["changed_inputs"] == ["image"], first
    assert not again["changed"] and "quick" not in again and again["image"]["digest"] == first["image"]["digest"], again
    assert without_invocation(again) == without_invocation(direct)
    assert without_invocation(check) == without_invocation(direct_check) and not check["changed"]
    assert without_invocation(diff) == without_invocation(direct_diff) and "diff" in diff
    assert diff["diff"]["before"] == diff["diff"]["after"], diff
    assert without_invocation(quick) == without_invocation(direct)
    assert not_quick == dict(not_quick, changed=False, quick=False) and "image" not in not_quick, not_quick
    assert rebuilt["changed"] and rebuilt["changed_inputs"] == ["context:app.txt"], rebuilt
    assert rebuilt["image"]["digest"] != first["image"]["digest"]
    assert bad.get("failed") and "sign_by signs what is pushed" in bad["msg"], bad  # the full module's error


def test_async_and_module_defaults(tmp_path, build):
    defaults = {"storage_root": build["storage_root"], "run_root": build["run_root"]}
    bare = {key: value for key, value in build.items() if key not in defaults}
    results = run_tasks([
        ("undock.oci.oci_build", build, {"async": 60, "poll": 2}),
        ("undock.oci.oci_build", build, {"async": 60, "poll": 2}),
        ("undock.oci.oci_build", bare, {"module_defaults": {"group/undock.oci.oci": defaults}}),
        ("undock.oci.oci_build", bare, {"module_defaults": {"group/undock.oci.oci": defaults}, "check_mode": True}),
    ])
    built, again, defaulted, defaulted_check = results
    assert built["changed"] and built["image"]["name"] == NAME and not built.get("failed"), built
    assert not again["changed"] and again["image"]["digest"] == built["image"]["digest"], again
    # the store of the defaults, not /var/lib/undock: nothing to build
    assert not defaulted["changed"] and defaulted["image"]["digest"] == built["image"]["digest"], defaulted
    assert not defaulted_check["changed"] and defaulted_check["image"] == defaulted["image"]


def payload_files(module: str, args: str, work: str):
    """The number of files in the AnsiballZ payload of one ad-hoc run of ``module``: all, and
    the collection's."""
    env = ansible_env({"ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_REMOTE_TMP": work})
    subprocess.run([os.path.join(BIN, "ansible"), "localhost", "-i", "localhost,", "-c", "local", "-m", module,
                    "-a", args], env=env, capture_output=True, text=True, timeout=300)
    wrappers = glob.glob(os.path.join(work, "*", "AnsiballZ_%s.py" % module.rsplit(".", 1)[-1]))
    assert len(wrappers) == 1, wrappers
    code = ("import base64, io, re, sys, zipfile; text = open(sys.argv[1]).read(); "
            "blob = re.search(r\"zip_data='([^']*)'\", text); "
            "names = zipfile.ZipFile(io.BytesIO(base64.b64decode(blob.group(1)))).namelist(); "
            "print(len(names), len([n for n in names if n.startswith('ansible_collections/undock/')]))")
    proc = subprocess.run([sys.executable, "-c", code, wrappers[0]], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    total, ours = proc.stdout.split()
    return int(total), int(ours)


def test_quick_payload_is_small(tmp_path):
    args = "name=localhost/none:1 containerfile_text='FROM scratch' storage_root=%s" % (tmp_path / "store")
    with tempfile.TemporaryDirectory(dir=str(tmp_path)) as quick_dir, tempfile.TemporaryDirectory(dir=str(tmp_path)) as full_dir:
        quick = payload_files("undock.oci.oci_build_quick", args, quick_dir)
        full = payload_files("undock.oci.oci_build", args, full_dir)
    print("AnsiballZ files (all, the collection's): oci_build_quick %s, oci_build %s" % (quick, full))
    assert quick[1] * 2 < full[1], (quick, full)  # Ansible's own files (basic.py) are in every payload
