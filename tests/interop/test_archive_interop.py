# -*- coding: utf-8 -*-
"""oci:, oci-archive: and docker-archive: against the real skopeo 1.9.3, umoci 0.4.7 and podman 4.3.

Both directions: what skopeo writes is read by our sources, and what our destinations
write is read by skopeo, umoci (ls and unpack into a rootfs) and podman load (private
root, vfs driver). The image has real files: busybox-static as /bin/busybox.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from ansible_collections.undock.oci.plugins.module_utils.image import docker_archive as da
from ansible_collections.undock.oci.plugins.module_utils.image import layout as lo
from ansible_collections.undock.oci.plugins.module_utils.image import transports as tr
from ansible_collections.undock.oci.plugins.module_utils.image.copy import copy_image, resolve_image
from ansible_collections.undock.oci.plugins.module_utils.model import manifest as m
from harness.images import BUSYBOX, busybox_entries, marker_entries, tar_layer, write_image

pytestmark = pytest.mark.skipif(not (shutil.which("skopeo") and shutil.which("umoci")) or not os.path.exists(BUSYBOX),
                                reason="needs skopeo, umoci and busybox-static")


def sha_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


copy = tr.copy_between


def inspect(skopeo, text, raw=False):
    out = skopeo.run("inspect", *(["--raw"] if raw else []), text).stdout
    return out if raw else json.loads(out)


def umoci_unpack(layout, ref, bundle):
    proc = subprocess.run(["umoci", "unpack", "--rootless", "--image", "%s:%s" % (layout, ref), bundle],
                          capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    rootfs = os.path.join(bundle, "rootfs")
    assert sha_file(os.path.join(rootfs, "bin", "busybox")) == sha_file(BUSYBOX)
    assert os.path.islink(os.path.join(rootfs, "bin", "sh"))
    with open(os.path.join(rootfs, "etc", "undock-fixture")) as f:
        assert f.read() == "name=archive\narch=amd64\n"
    return rootfs


def config_of(text):
    src = tr.open_source(text)
    try:
        return resolve_image(src)
    finally:
        src.close()


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    layout = str(tmp_path_factory.mktemp("archive-src") / "layout")
    return write_image(layout, [tar_layer(busybox_entries()), tar_layer(marker_entries("archive", "amd64"))],
                       "amd64", tag="x")


# ---------------------------------------------------------------------------------------
# skopeo writes, we read
# ---------------------------------------------------------------------------------------
def test_we_read_a_layout_skopeo_copied(tmp_path, image, skopeo):
    other = str(tmp_path / "B")
    skopeo.copy("oci:%s:x" % image.layout, "oci:%s:y" % other)
    src = lo.LayoutImageSource(other, "y")
    assert src.get_manifest().digest == image.digest
    ours = str(tmp_path / "ours")
    copy_image(src, lo.LayoutImageDestination(ours, "z"))
    assert inspect(skopeo, "oci:%s:z" % ours)["Digest"] == image.digest
    umoci_unpack(ours, "z", str(tmp_path / "bundle"))


def test_we_read_an_oci_archive_skopeo_wrote(tmp_path, image, skopeo):
    archive = str(tmp_path / "s.tar")
    skopeo.copy("oci:%s:x" % image.layout, "oci-archive:%s:y" % archive)
    src = tr.open_source("oci-archive:%s:y" % archive)
    assert src.get_manifest().digest == image.digest
    assert tr.open_source("oci-archive:%s" % archive).get_manifest().digest == image.digest   # the only one
    ours = str(tmp_path / "ours")
    copy_image(src, tr.open_destination("oci:%s:y" % ours))
    src.close()
    assert inspect(skopeo, "oci:%s:y" % ours, raw=True) == inspect(skopeo, "oci:%s:x" % image.layout, raw=True)


def test_we_read_a_docker_archive_skopeo_wrote(tmp_path, image, skopeo):
    archive = str(tmp_path / "d.tar")
    skopeo.copy("oci:%s:x" % image.layout, "docker-archive:%s:busybox:latest" % archive)
    # skopeo adds legacy <v1 id>/layer.tar symlinks; they are recorded, never followed
    for ref in ("", ":busybox", ":docker.io/library/busybox:latest", ":@0"):
        src = tr.open_source("docker-archive:%s%s" % (archive, ref))
        assert src.repo_tags == ["docker.io/library/busybox:latest"]
        resolved = resolve_image(src)
        assert resolved.manifest.config["digest"] == image.config
        assert resolved.config["rootfs"]["diff_ids"] == image.diff_ids
        assert [d["digest"] for d in resolved.manifest.layers] == image.diff_ids
        src.close()
    ours = str(tmp_path / "ours")
    copy("docker-archive:%s" % archive, "oci:%s:bb" % ours)
    # the OCI manifest we synthesise is what umoci unpacks
    assert {e["mediaType"] for e in json.loads(inspect(skopeo, "oci:%s:bb" % ours, raw=True))["layers"]} == {m.OCI_LAYER}
    umoci_unpack(ours, "bb", str(tmp_path / "bundle"))
    # The docker flavour (skopeo's v2s2 shape) lands in a layout as a Docker-typed entry,
    # which skopeo 1.9.3 itself cannot read back by name (it only considers OCI-typed
    # index entries; same with its own --preserve-digests) and umoci cannot unpack:
    # why OCI is the default.
    docker_form = da.DockerArchiveImageSource(archive, manifest_format="docker")
    copy_image(docker_form, lo.LayoutImageDestination(ours, "docker-form"))
    manifest = lo.LayoutImageSource(ours, "docker-form").get_manifest()
    assert manifest.media_type == m.DOCKER_MANIFEST and manifest.layers[0]["mediaType"] == da.DOCKER_LAYER
    failed = skopeo.run("inspect", "oci:%s:docker-form" % ours, check=False)
    assert failed.returncode != 0 and b"no descriptor found" in failed.stderr


def test_we_read_zstd_layers_skopeo_wrote_and_write_them_uncompressed(tmp_path, image, skopeo):
    pytest.importorskip("zstandard")
    zstd = str(tmp_path / "zstd")
    skopeo.copy("oci:%s:x" % image.layout, "oci:%s:z" % zstd, extra=["--dest-compress-format", "zstd"])
    layers = json.loads(inspect(skopeo, "oci:%s:z" % zstd, raw=True))["layers"]
    assert {d["mediaType"] for d in layers} == {m.OCI_LAYER_ZSTD}
    archive = str(tmp_path / "z.tar")
    copy("oci:%s:z" % zstd, "docker-archive:%s:localhost/zstd:1" % archive)
    back = str(tmp_path / "back")
    skopeo.copy("docker-archive:%s:localhost/zstd:1" % archive, "oci:%s:r" % back)
    assert config_of("oci:%s:r" % back).config["rootfs"]["diff_ids"] == image.diff_ids
    umoci_unpack(back, "r", str(tmp_path / "bundle"))


# ---------------------------------------------------------------------------------------
# we write, skopeo / umoci / podman read
# ---------------------------------------------------------------------------------------
def test_skopeo_and_umoci_read_our_layout(tmp_path, image, skopeo):
    ours = str(tmp_path / "ours")
    assert copy("oci:%s:x" % image.layout, "oci:%s:v1" % ours).changed
    assert copy("oci:%s:x" % image.layout, "oci:%s:v2" % ours).changed   # new name only
    info = inspect(skopeo, "oci:%s:v1" % ours)
    assert info["Digest"] == image.digest and info["Layers"] == image.layers
    assert inspect(skopeo, "oci:%s:v2" % ours, raw=True) == inspect(skopeo, "oci:%s:x" % image.layout, raw=True)
    listed = subprocess.run(["umoci", "ls", "--layout", ours], capture_output=True, timeout=60, check=True)
    assert sorted(listed.stdout.decode().split()) == ["v1", "v2"]
    umoci_unpack(ours, "v1", str(tmp_path / "bundle"))
    # skopeo copies back out of it unchanged
    skopeo.copy("oci:%s:v2" % ours, "oci:%s:again" % str(tmp_path / "again"))
    assert inspect(skopeo, "oci:%s:again" % str(tmp_path / "again"))["Digest"] == image.digest


def test_skopeo_reads_our_oci_archive(tmp_path, image, skopeo):
    archive = str(tmp_path / "ours.tar")
    copy("oci:%s:x" % image.layout, "oci-archive:%s:one" % archive)
    copy("oci:%s:x" % image.layout, "oci-archive:%s:two" % archive)
    assert inspect(skopeo, "oci-archive:%s:one" % archive)["Digest"] == image.digest
    out = str(tmp_path / "out")
    skopeo.copy("oci-archive:%s:two" % archive, "oci:%s:t" % out)
    assert inspect(skopeo, "oci:%s:t" % out)["Digest"] == image.digest
    umoci_unpack(out, "t", str(tmp_path / "bundle"))


def test_skopeo_reads_our_docker_archive(tmp_path, image, skopeo):
    archive = str(tmp_path / "ours.tar")
    copy("oci:%s:x" % image.layout, "docker-archive:%s:localhost:5000/undock/bb:1" % archive)
    info = inspect(skopeo, "docker-archive:%s" % archive)
    assert info["Layers"] == image.diff_ids
    out = str(tmp_path / "out")
    skopeo.copy("docker-archive:%s:localhost:5000/undock/bb:1" % archive, "oci:%s:t" % out)
    # skopeo converts (OCI manifest, gzip layers, re-serialised config): compare diff IDs
    assert config_of("oci:%s:t" % out).config["rootfs"]["diff_ids"] == image.diff_ids
    umoci_unpack(out, "t", str(tmp_path / "bundle"))
    # skopeo's own docker-archive of it is the same image (same config, same layers)
    theirs = str(tmp_path / "theirs.tar")
    skopeo.copy("docker-archive:%s" % archive, "docker-archive:%s:localhost:5000/undock/bb:1" % theirs)
    assert config_of("docker-archive:%s" % theirs).config_raw == config_of("docker-archive:%s" % archive).config_raw


def test_podman_loads_our_docker_archive(tmp_path, image):
    if not shutil.which("podman"):
        pytest.skip("podman is not installed")
    archive = str(tmp_path / "ours.tar")
    copy("oci:%s:x" % image.layout, "docker-archive:%s:busybox:undock" % archive)
    root = tempfile.mkdtemp(prefix="udk-pm-")   # podman wants a runroot under 50 characters
    base = ["podman", "--root", os.path.join(root, "root"), "--runroot", os.path.join(root, "run"),
            "--storage-driver", "vfs", "--events-backend", "none", "--cgroup-manager", "cgroupfs"]
    try:
        proc = subprocess.run(base + ["load", "-i", archive], capture_output=True, timeout=300,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
        assert "docker.io/library/busybox:undock" in proc.stdout.decode()
        listed = subprocess.run(base + ["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
                                capture_output=True, timeout=120, check=True).stdout.decode().split()
        assert listed == ["docker.io/library/busybox:undock", image.config[7:19]]
    finally:
        shutil.rmtree(root, ignore_errors=True)   # vfs: plain directories, nothing mounted
