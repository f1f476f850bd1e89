# -*- coding: utf-8 -*-
"""Builds from steps on real parts: the busybox image pulled from the test registry, RUN steps
in runc, overlay working containers, then the image run by the container runtime. Deletions
become whiteouts that hide the base's file; same inputs and epoch give the same digest; an
unchanged build is not repeated, a changed file's content rebuilds and its mtime does not."""

from __future__ import annotations

import json
import os
import time

import pytest

from harness import images as I
from harness.engine import service

from ansible_collections.undock.oci.plugins.module_utils.build.errors import BuildError
from ansible_collections.undock.oci.plugins.module_utils.build.service import FINGERPRINT, build_image
from ansible_collections.undock.oci.plugins.module_utils.runtime.containers import Containers
from ansible_collections.undock.oci.plugins.module_utils.runtime.service import ContainerService, container_options
from ansible_collections.undock.oci.plugins.module_utils.storage.mount_records import mountinfo

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="builds need root (overlay mounts, runc)")

EPOCH = 1700000000


@pytest.fixture(scope="module")
def busybox(session_registry):
    return I.push_layers(session_registry, "build/busybox", "1", [I.tar_layer(I.busybox_entries())])


@pytest.fixture
def context(tmp_path):
    ctx = tmp_path / "ctx"
    (ctx / "site").mkdir(parents=True)
    (ctx / "app.txt").write_text("app v1\n")
    (ctx / "site" / "index.html").write_text("<h1>hi</h1>\n")
    os.symlink("index.html", str(ctx / "site" / "home.html"))
    return ctx


def steps_for(image):
    return [
        {"from": image},
        {"run": "echo built > /hello && rm /etc/group && mkdir -p /var/www && chown 65534 /var/www"},
        {"copy": {"src": "app.txt", "dest": "/opt/app/", "chown": "nobody", "chmod": "0640"}},
        {"commit": {"message": "app"}},
        {"copy": {"src": "site", "dest": "/var/www"}},
        {"run": {"command": ["/bin/sh", "-c", "cat /opt/app/app.txt > /var/www/app.copy; id -u > /var/www/uid"],
                 "user": "nobody", "network": "none"}},
        {"config": {"cmd": ["/bin/sh", "-c", "cat /hello /var/www/index.html /var/www/app.copy; ls /etc"],
                    "env": {"GREETING": "hi"}, "labels": {"app": "web"}, "exposed_ports": ["8080"],
                    "working_dir": "/var/www", "stop_signal": "TERM",
                    "healthcheck": {"test": ["CMD", "true"], "interval": "30s", "retries": 3}}},
    ]


def build(svc, image, context, **kwargs):
    kwargs.setdefault("epoch", EPOCH)
    return build_image(svc, "localhost/built/web:1", kwargs.pop("steps", None) or steps_for(image),
                       context=str(context), **kwargs)


def wait_for(what, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = what()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_steps_build_an_image_that_runs(tmp_path, registry, busybox, context):
    svc = service(tmp_path, registry)
    outcome = build(svc, busybox.ref, context)
    assert outcome.changed and outcome.image["name"] == "localhost/built/web:1"
    assert len(outcome.image["layers"]) == 3  # the base, the first commit, the last (implicit) one
    config = outcome.image["config"]
    assert config["Cmd"][0] == "/bin/sh" and config["WorkingDir"] == "/var/www" and config["Labels"] == {"app": "web"}
    assert config["ExposedPorts"] == {"8080/tcp": {}} and "GREETING=hi" in config["Env"]
    assert config["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 30000000000, "Retries": 3}
    assert outcome.image["created"] == "2023-11-14T22:13:20Z"
    stored = svc.local_image("localhost/built/web:1")
    history = stored.config["history"]
    assert [h.get("created_by", "")[:4] for h in history[1:]] == ["RUN ", "COPY", "COPY", "RUN ", "CONF"]
    assert sum(1 for h in history if not h.get("empty_layer")) == 3
    assert stored.manifest.data["annotations"][FINGERPRINT].startswith("sha256:")
    # nothing of the build is left mounted, and its working directories are gone
    assert not [m for m in mountinfo() if str(tmp_path) in m["point"]]
    assert os.listdir(os.path.join(svc.storage_root, "builds")) == []

    engine = ContainerService(svc)
    params = dict(container_options({}), name="built", image="localhost/built/web:1", state="started", pull="never",
                  stop_timeout=0, read_only=False, privileged=False, no_new_privileges=False, restart_policy="no",
                  runtime="runc", network="none", recreate=False, force_restart=False)
    try:
        engine.ensure(params)
        manager = Containers(svc.store(), svc.run_root)
        info = wait_for(lambda: manager.info("built")["state"] == "stopped" and manager.info("built"))
        assert info["exit_code"] == 0, info
        assert info["logs"][:3] == ["built", "<h1>hi</h1>", "app v1"], info["logs"]
        assert "group" not in info["logs"][3:] and "passwd" in info["logs"][3:]  # the RUN step's deletion
    finally:
        Containers(svc.store(), svc.run_root).remove("built")


def test_files_owners_modes_and_whiteouts_in_the_layers(tmp_path, registry, busybox, context):
    svc = service(tmp_path, registry)
    build(svc, busybox.ref, context)
    store = svc.store()
    image = svc.local_image("localhost/built/web:1")
    import tarfile
    members = []
    for desc in image.manifest.layers[1:]:
        with tarfile.open(fileobj=store.open_blob(desc["digest"]), mode="r:gz") as tar:
            members.append({m.name: m for m in tar.getmembers()})
    first, second = members
    assert "etc/.wh.group" in first and "hello" in first
    app = first["opt/app/app.txt"]
    assert (app.uid, app.gid, app.mode) == (65534, 65534, 0o640)
    assert second["var/www/home.html"].issym() and second["var/www/home.html"].linkname == "index.html"
    assert second["var/www/uid"].uid == 65534  # written by the RUN step as nobody
    assert all(m.mtime <= EPOCH and m.uname == "" and m.gname == "" for layer in members for m in layer.values())
    # runc's mount points for /etc/hosts, /etc/hostname, /etc/resolv.conf never reach a layer
    assert not {"etc/hosts", "etc/hostname", "etc/resolv.conf"} & (set(first) | set(second))


def test_same_inputs_same_epoch_same_digest(tmp_path, registry, busybox, context):
    one = build(service(tmp_path / "a", registry), busybox.ref, context)
    two = build(service(tmp_path / "b", registry), busybox.ref, context)
    assert one.image["digest"] == two.image["digest"]


def test_unchanged_inputs_are_not_rebuilt_content_is_mtime_is_not(tmp_path, registry, busybox, context):
    svc = service(tmp_path, registry)
    first = build(svc, busybox.ref, context)
    again = build(service(tmp_path, registry), busybox.ref, context)
    assert not again.changed and again.image["digest"] == first.image["digest"] and again.actions == []

    later = time.time() + 100
    os.utime(str(context / "app.txt"), (later, later))
    touched = build(service(tmp_path, registry), busybox.ref, context)
    assert not touched.changed

    (context / "app.txt").write_text("app v2\n")
    changed = build(service(tmp_path, registry), busybox.ref, context)
    assert changed.changed and changed.image["digest"] != first.image["digest"]
    assert changed.values["changed_inputs"] == ["sources:%s" % os.path.realpath(str(context / "app.txt"))]
    assert changed.before["inputs"]["sources"] != changed.after["inputs"]["sources"]

    other = build(service(tmp_path, registry), busybox.ref, context, squash=True)
    assert other.changed and other.values["changed_inputs"] == ["options.squash"]
    assert len(other.image["layers"]) == 1


def test_check_mode_builds_nothing(tmp_path, registry, busybox, context):
    build(service(tmp_path, registry), busybox.ref, context)
    (context / "app.txt").write_text("app v3\n")
    svc = service(tmp_path, registry, check_mode=True)
    before = sorted(os.listdir(os.path.join(svc.storage_root, "blobs", "sha256")))
    outcome = build(svc, busybox.ref, context)
    assert outcome.changed and outcome.actions[-1].startswith("would build")
    assert sorted(os.listdir(os.path.join(svc.storage_root, "blobs", "sha256"))) == before


def test_scratch_host_step_and_add_archive(tmp_path, registry, context):
    import io
    import tarfile
    import zstandard
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("pkg/bin/tool")
        info.size, info.mode, info.uid = 3, 0o755, 42
        tar.addfile(info, io.BytesIO(b"abc"))
    (context / "pkg.tar.zst").write_bytes(zstandard.ZstdCompressor().compress(data.getvalue()))  # name says nothing
    (context / "renamed.bin").write_bytes(zstandard.ZstdCompressor().compress(data.getvalue()))
    svc = service(tmp_path, registry)
    outcome = build_image(svc, "localhost/built/scratch:1", [
        {"from": "scratch"},
        {"host": "mkdir -p \"$ROOTFS/etc\" && echo from-host > \"$ROOTFS/etc/motd\""},
        {"add": {"src": "renamed.bin", "dest": "/usr/"}},
        {"config": {"entrypoint": "/usr/pkg/bin/tool"}},
    ], context=str(context), epoch=EPOCH, compression="zstd")
    assert outcome.changed and len(outcome.image["layers"]) == 1
    assert outcome.image["config"]["Entrypoint"] == ["/bin/sh", "-c", "/usr/pkg/bin/tool"]
    image = svc.local_image("localhost/built/scratch:1")
    assert image.manifest.layers[0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    from ansible_collections.undock.oci.plugins.module_utils.storage.layers import LayerStore, image_diff_ids
    layer = LayerStore(svc.store()).diff_dir(image_diff_ids(image.config)[0])
    assert open(os.path.join(layer, "etc", "motd")).read() == "from-host\n"
    tool = os.lstat(os.path.join(layer, "usr", "pkg", "bin", "tool"))
    assert tool.st_uid == 42 and tool.st_mode & 0o777 == 0o755


def test_failures_say_what_and_leave_nothing(tmp_path, registry, busybox, context):
    svc = service(tmp_path, registry)
    with pytest.raises(BuildError, match=r"(?s)exit code 3.*to stderr"):
        build(svc, busybox.ref, context, steps=[{"from": busybox.ref}, {"run": "echo to stderr >&2; exit 3"}])
    with pytest.raises(BuildError, match="step 2 \\(copy\\): src .* relative and no context"):
        build_image(svc, "localhost/x:1", [{"from": busybox.ref}, {"copy": {"src": "a", "dest": "/"}}])
    with pytest.raises(BuildError, match="step 1 must be from"):
        build_image(svc, "localhost/x:1", [{"run": "true"}])
    with pytest.raises(BuildError, match="unknown fields colour"):
        build(svc, busybox.ref, context, steps=[{"from": busybox.ref}, {"config": {"colour": "red"}}])
    assert not [m for m in mountinfo() if str(tmp_path) in m["point"]]
    assert os.listdir(os.path.join(svc.storage_root, "builds")) == []
    assert svc.local_image("localhost/built/web:1") is None


def test_copy_never_writes_through_an_image_link(tmp_path, registry, busybox, context):
    """A link in the image pointing out of the rootfs is resolved inside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    svc = service(tmp_path, registry)
    build(svc, busybox.ref, context, steps=[
        {"from": busybox.ref},
        {"run": "ln -s %s /escape" % outside},
        {"copy": {"src": "app.txt", "dest": "/escape/"}},
    ])
    assert os.listdir(str(outside)) == []
    image = svc.local_image("localhost/built/web:1")
    assert json.dumps(image.config).count("COPY") == 1


def test_a_named_link_source_brings_its_target_under_its_own_name(tmp_path, registry, busybox, context):
    """docker's rule, the one the Dockerfile executor follows (build.context.sources): the
    named path is followed and the copy is named after the source as written."""
    os.symlink("app.txt", str(context / "link"))
    os.symlink("site", str(context / "dirlink"))
    svc = service(tmp_path, registry)
    steps = [{"from": busybox.ref}, {"copy": {"src": "link", "dest": "/links/"}},
             {"copy": {"src": "dirlink", "dest": "/www"}}, {"add": {"src": "link", "dest": "/added/"}}]
    first = build(svc, busybox.ref, context, steps=steps)
    import tarfile
    layer = svc.local_image("localhost/built/web:1").manifest.layers[-1]
    with tarfile.open(fileobj=svc.store().open_blob(layer["digest"]), mode="r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert members["links/link"].isfile() and tar.extractfile("links/link").read() == b"app v1\n"
        assert members["added/link"].isfile() and "links/app.txt" not in members
        assert members["www/index.html"].isfile() and members["www/home.html"].issym()
    (context / "app.txt").write_text("app v2\n")  # the target's content is the source's
    changed = build(service(tmp_path, registry), busybox.ref, context, steps=steps)
    assert changed.changed and changed.values["changed_inputs"] == ["sources:%s" % (context / "link")]
    assert changed.image["digest"] != first.image["digest"]


@pytest.fixture
def web_root(tmp_path):
    """A static HTTP server on 127.0.0.1 serving ``tmp_path/www``, stopped after the test."""
    import functools
    import http.server
    import threading
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_add_a_url_checked_against_its_checksum(tmp_path, registry, busybox, context, web_root):
    import hashlib
    root, url = web_root
    (root / "tool.sh").write_bytes(b"echo tool\n")
    good = "sha256:" + hashlib.sha256(b"echo tool\n").hexdigest()
    svc = service(tmp_path, registry)
    outcome = build(svc, busybox.ref, context, steps=[
        {"from": busybox.ref},
        {"add": {"src": url + "/tool.sh", "dest": "/usr/local/bin/", "checksum": good, "chmod": "0755"}},
        {"run": "test \"$(sh /usr/local/bin/tool.sh)\" = tool"},
    ])
    assert outcome.changed
    with pytest.raises(BuildError, match="checksum mismatch"):
        build(svc, busybox.ref, context, steps=[
            {"from": busybox.ref}, {"add": {"src": url + "/tool.sh", "dest": "/x", "checksum": "sha256:" + "0" * 64}}])
    with pytest.raises(BuildError, match="answered 404"):
        build(svc, busybox.ref, context, steps=[{"from": busybox.ref}, {"add": {"src": url + "/nope", "dest": "/x"}}])


def test_docker_format_and_its_idempotency(tmp_path, registry, busybox, context):
    svc = service(tmp_path, registry)
    first = build(svc, busybox.ref, context, image_format="docker")
    assert first.image["media_type"] == "application/vnd.docker.distribution.manifest.v2+json"
    again = build(service(tmp_path, registry), busybox.ref, context, image_format="docker")
    assert not again.changed and again.image["digest"] == first.image["digest"]
    with pytest.raises(BuildError, match="no zstd"):
        build(svc, busybox.ref, context, image_format="docker", compression="zstd")


def test_run_networks(tmp_path, registry, busybox, context):
    svc = service(tmp_path, registry)
    build(svc, busybox.ref, context, steps=[
        {"from": busybox.ref},
        {"run": {"command": "ls /sys/class/net > /none.txt", "network": "none"}},
        {"run": {"command": "ls /sys/class/net > /bridge.txt", "network": "bridge"}},
    ])
    image = svc.local_image("localhost/built/web:1")
    from ansible_collections.undock.oci.plugins.module_utils.storage.layers import LayerStore, image_diff_ids
    layer = LayerStore(svc.store()).diff_dir(image_diff_ids(image.config)[-1])
    assert open(os.path.join(layer, "none.txt")).read().split() == ["lo"]
    assert "eth0" in open(os.path.join(layer, "bridge.txt")).read().split()
    netns = os.path.join(svc.run_root, "netns")
    assert not os.path.isdir(netns) or os.listdir(netns) == []  # detached after each step


def test_layer_cache_reuses_unchanged_layers_and_no_cache_runs_again(tmp_path, registry, busybox, context):
    steps = [
        {"from": busybox.ref},
        {"run": "cat /proc/sys/kernel/random/uuid > /random"},  # a new value each time it really runs
        {"config": {"env": {"STAGE": "one"}}},
        {"commit": {}},
        {"copy": {"src": "app.txt", "dest": "/app.txt"}},
        {"run": "echo $STAGE > /stage"},
    ]
    svc = service(tmp_path, registry)
    first = build(svc, busybox.ref, context, steps=steps, epoch=None)
    (context / "app.txt").write_text("changed\n")
    second = build(service(tmp_path, registry), busybox.ref, context, steps=steps, epoch=None)
    assert second.changed and any(a.startswith("reused cached layer") for a in second.actions), second.actions
    assert second.image["layers"][1] == first.image["layers"][1]      # the RUN was not run again
    assert second.image["layers"][2] != first.image["layers"][2]
    assert "STAGE=one" in second.image["config"]["Env"]              # the cached part's config came along
    history = svc.local_image("localhost/built/web:1").config["history"]
    assert [h["created_by"][:6] for h in history[1:]] == ["RUN /b", "CONFIG", "COPY /", "RUN /b"]
    third = build(service(tmp_path, registry), busybox.ref, context, steps=steps, epoch=None, no_cache=True,
                  force=True)
    assert third.image["layers"][1] != first.image["layers"][1]
    assert not any(a.startswith("reused") for a in third.actions)
