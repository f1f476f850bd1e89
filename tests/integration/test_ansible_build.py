# -*- coding: utf-8 -*-
"""Builds driven by Ansible tasks, on real parts: playbooks/build_image.yml through
ansible-playbook builds a busybox httpd image with the busybox_httpd role in a working
container (busybox has no Python: the host's is lent), and the image runs and serves the
role's page. No layer holds the host's interpreter, /.undock or Ansible's files; a failed
play commits nothing and leaves no mount; a second run commits the same digest and says
changed=False. The lent interpreter also runs from Debian's python3 and from the venv's."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
import urllib.request

import pytest

from harness import images as I
from harness.ansible import BIN, ansible_env, run_tasks
from harness.engine import service
from harness.network import free_port

from ansible_collections.undock.oci.plugins.module_utils.build import session
from ansible_collections.undock.oci.plugins.module_utils.build.errors import BuildError
from ansible_collections.undock.oci.plugins.module_utils.build.kept import KeptContainers
from ansible_collections.undock.oci.plugins.module_utils.storage.mount_records import mountinfo

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="builds need root (overlay mounts, runc)")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE = "localhost/base/busybox:1"
IMAGE = "localhost/undock/busybox-httpd:1"
COMMITTED = re.compile(r"(localhost/undock/busybox-httpd:1) (sha256:[0-9a-f]{64}) changed=(True|False)")


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("base") / "layout")
    I.write_image(path, [I.tar_layer(I.busybox_entries())], tag="base")
    return path


def build_playbook(store, run, layout=None, **extra):
    """ansible-playbook playbooks/build_image.yml as a user runs it; (rc, output)."""
    command = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
               os.path.join(REPO, "playbooks", "build_image.yml"),
               "-e", "build_store=%s" % store, "-e", "build_run_root=%s" % run, "-e", "build_base_image=%s" % BASE]
    if layout:
        command += ["-e", "build_base_layout=%s" % layout]
    for key, value in extra.items():
        command += ["-e", "%s=%s" % (key, value)]
    proc = subprocess.run(command, env=ansible_env(), capture_output=True, text=True, timeout=900)
    return proc.returncode, proc.stdout + proc.stderr


def stored(tmp_path, store, run, name):
    """The stored image ``name`` (None when absent), read by the engine."""
    return service(tmp_path, storage_root=store, run_root=run).local_image(name)


def blob(store, digest):
    with open(os.path.join(store, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as handle:
        return handle.read()


def layer_members(store, digest):
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(store, digest)))) as tar:
        return {m.name: (m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()}


def no_mounts_under(path):
    return [m for m in mountinfo() if m["point"].startswith(path)]


def test_build_playbook_makes_a_serving_image_without_traces(tmp_path, layout):
    store, run = str(tmp_path / "store"), str(tmp_path / "run")
    rc, out = build_playbook(store, run, layout)
    assert rc == 0, out
    first = COMMITTED.search(out)
    assert first and first.group(3) == "True", out
    image = stored(tmp_path, store, run, IMAGE)
    digest, layers = image.manifest.digest, [d["digest"] for d in image.manifest.layers]
    assert digest == first.group(2)
    assert len(layers) == 2  # the base and one layer for the play
    role_layer = layer_members(store, layers[-1])
    files = {name for name, (member, data) in role_layer.items() if not member.isdir()}
    assert files == {"etc/httpd.conf", "var/www/index.html"}, sorted(role_layer)
    page = role_layer["var/www/index.html"][1].decode()
    assert "Built by Ansible with undock.oci" in page
    assert "H:/var/www" in role_layer["etc/httpd.conf"][1].decode()
    for layer in layers:
        for name in layer_members(store, layer):
            assert not name.startswith(".undock") and ".undock" not in name, (layer, name)
            assert "python" not in name and "ansible" not in name.lower(), (layer, name)
    config = json.loads(blob(store, image.manifest.config["digest"]))
    assert config["config"]["Cmd"][:3] == ["/bin/busybox", "httpd", "-f"]
    assert config["history"][-1]["comment"] == "play: Configure the image with a role"
    assert not no_mounts_under(run), "a working container is still mounted"
    assert os.listdir(os.path.join(store, "builds")) == []

    # the image runs and serves the role's page
    port = free_port()
    common = {"storage_root": store, "run_root": run}
    container = dict(common, name="built-httpd", image=IMAGE, state="started", pull="never",
                     ports=["127.0.0.1:%d:8080" % port], restart_policy="no")
    started, = run_tasks([("undock.oci.oci_container", container, {})])
    try:
        assert started["changed"] and not started.get("failed"), started
        body = None
        for dummy in range(50):
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=2) as response:
                    body = response.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert body == page, body
    finally:
        removed, = run_tasks([("undock.oci.oci_container", dict(container, state="absent"), {})])
    assert removed["changed"], removed

    # a second run: the same layer, so the commit is not a change
    rc, out = build_playbook(store, run)
    assert rc == 0, out
    again = COMMITTED.search(out)
    assert again and again.group(2) == digest and again.group(3) == "False", out
    assert not no_mounts_under(run)


def test_failed_play_commits_nothing_and_leaves_no_mount(tmp_path, layout):
    store, run = str(tmp_path / "store"), str(tmp_path / "run")
    rc, out = build_playbook(store, run, layout, build_fail="true")
    assert rc != 0, out
    assert "the build failed in task Fail here when asked to (tests)" in out, out
    assert stored(tmp_path, store, run, IMAGE) is None
    assert stored(tmp_path, store, run, BASE) is not None
    assert not no_mounts_under(run), out
    assert os.listdir(os.path.join(store, "builds")) == []
    assert not os.path.exists(os.path.join(run, "builds")) or os.listdir(os.path.join(run, "builds")) == []


@pytest.mark.parametrize("python", ["/usr/bin/python3", sys.executable], ids=["debian", "venv"])
def test_lent_python_runs_in_busybox_and_is_never_committed(tmp_path, layout, python):
    if not os.path.exists(python):
        pytest.skip("%s is not installed" % python)  # Debian's python3 is in hack/apt-packages.txt
    svc = service(tmp_path)
    svc.present(BASE, source="oci:%s:base" % layout)
    started = session.start(svc, "lent", "localhost/lent:1", [{"from": BASE}], python=python, epoch=1700000000)
    info = started.values["container"]
    assert started.changed and info["python_interpreter"] == "/.undock/bin/python"
    again = session.start(svc, "lent", "localhost/lent:1", [{"from": BASE}], python=python)
    assert not again.changed
    kept = KeptContainers(svc.store(), svc.run_root)
    try:
        probe = ("import sys, json, zlib, hashlib, pwd; "
                 "open('/probe', 'w').write(json.dumps([sys.version_info[0], sys.prefix, pwd.getpwuid(0).pw_name]))")
        with kept.open("lent") as working:
            rc, out, err = working.exec(["/.undock/bin/python", "-c", probe])
            assert rc == 0, (out, err)
            rc, out, err = working.exec(["/bin/sh", "-c", "ls /lib /lib64 2>&1; ls -d /.undock/host/*"])
            assert b"No such file" in out  # busybox has no libc: the interpreter runs from the host's
            upper = working.container.upper
        # no stub of /.undock; /etc is copied up by the stubs of runc's /etc/hosts... (removed), as in RUN steps
        assert sorted(os.listdir(upper)) == ["etc", "probe"], os.listdir(upper)
        assert os.listdir(os.path.join(upper, "etc")) == []
        with open(os.path.join(upper, "probe")) as handle:
            version, prefix, user = json.load(handle)
        assert version == 3 and prefix.startswith("/.undock/host/") and user == "root"
    except BaseException:
        session.remove_container(svc, "lent")
        raise
    committed = session.commit(svc, "lent", None, message="probe", remove=True)
    assert committed.changed and committed.values["removed"]
    manifest = svc.local_image("localhost/lent:1").manifest
    names = layer_members(svc.storage_root, manifest.layers[-1]["digest"])
    assert sorted(names) == ["etc", "probe"]
    assert not kept.exists("lent") and not no_mounts_under(svc.run_root)
    with pytest.raises(BuildError, match="does not exist"):
        session.commit(svc, "lent", None)


def test_a_commit_per_task_makes_a_layer_each_and_an_empty_commit_changes_nothing(tmp_path, layout):
    svc = service(tmp_path)
    svc.present(BASE, source="oci:%s:base" % layout)
    session.start(svc, "per-task", "localhost/per-task:1", [{"from": BASE}], python="", epoch=1700000000)
    kept = KeptContainers(svc.store(), svc.run_root)
    try:
        digests = []
        for name in ("a", "b"):
            with kept.open("per-task") as working:
                assert working.exec(["/bin/sh", "-c", "echo %s > /%s" % (name, name)])[0] == 0
            committed = session.commit(svc, "per-task", None, message="task %s" % name)
            assert committed.changed, committed
            digests.append(committed.after["digest"])
        again = session.commit(svc, "per-task", None, message="nothing")
        assert not again.changed and again.after["digest"] == digests[-1]
    finally:
        session.remove_container(svc, "per-task")
    manifest = svc.local_image("localhost/per-task:1").manifest
    assert len(manifest.layers) == 3
    # each layer: its task's file (and /etc, copied up by runc's /etc/hosts stubs, as in RUN steps)
    assert [sorted(layer_members(svc.storage_root, d["digest"])) for d in manifest.layers[1:]] == [["a", "etc"],
                                                                                                  ["b", "etc"]]
    assert not no_mounts_under(svc.run_root)
