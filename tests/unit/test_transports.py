# -*- coding: utf-8 -*-
"""oci:, oci-archive: and docker-archive: transports, store-less, on images built in Python."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.errors import (
    DigestMismatchError, InvalidReferenceError, ManifestError, StoreError, TransientError, UndockError)
from ansible_collections.undock.oci.plugins.module_utils.image import docker_archive as da
from ansible_collections.undock.oci.plugins.module_utils.image import layout as lo
from ansible_collections.undock.oci.plugins.module_utils.image import transports as tr
from ansible_collections.undock.oci.plugins.module_utils.image.copy import copy_image, resolve_image
from ansible_collections.undock.oci.plugins.module_utils.model import manifest as m
from ansible_collections.undock.oci.plugins.module_utils.storage.layout import REF_NAME, OCILayout

try:
    import zstandard
except ImportError:  # pragma: no cover
    zstandard = None


# ---------------------------------------------------------------------------------------
# building images
# ---------------------------------------------------------------------------------------
def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1700000000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def compress(raw, how):
    if how == "gzip":
        return gzip.compress(raw, mtime=0), m.OCI_LAYER_GZIP
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(raw), m.OCI_LAYER_ZSTD
    return raw, m.OCI_LAYER


def put(layout, data):
    digest = sha(data)
    path = os.path.join(layout, "blobs", "sha256", digest[7:])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": digest, "size": len(data)}


def build_image(layout, tag="latest", layers=None, how="gzip", arch="amd64", manifest_type=m.OCI_MANIFEST,
                index_entry=True, extra_annotations=None):
    """Write an image into an OCI layout directory; return a dict describing it."""
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    index_path = os.path.join(layout, "index.json")
    if not os.path.exists(index_path):
        with open(index_path, "w") as f:
            json.dump({"schemaVersion": 2, "manifests": []}, f)
    layers = layers if layers is not None else [
        layer_tar({"etc/hello": b"hello " + tag.encode() + b"\n"}),
        layer_tar({"bin/tool": b"\x7fELF" + os.urandom(4096)})]
    descs, diff_ids = [], []
    for raw in layers:
        blob, mt = compress(raw, how)
        if manifest_type == m.DOCKER_MANIFEST:
            mt = m.DOCKER_LAYER_GZIP if how == "gzip" else da.DOCKER_LAYER
        descs.append(dict(mediaType=mt, **put(layout, blob)))
        diff_ids.append(sha(raw))
    config = {"architecture": arch, "os": "linux", "config": {"Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    config_raw = json.dumps(config, sort_keys=True).encode()
    config_type = m.OCI_CONFIG if manifest_type == m.OCI_MANIFEST else m.DOCKER_CONFIG
    cfg = dict(mediaType=config_type, **put(layout, config_raw))
    raw = json.dumps({"schemaVersion": 2, "mediaType": manifest_type, "config": cfg, "layers": descs}).encode()
    mdesc = dict(mediaType=manifest_type, **put(layout, raw))
    if index_entry:
        add_entry(layout, mdesc, tag, extra_annotations)
    return {"digest": mdesc["digest"], "desc": mdesc, "config": cfg["digest"], "config_raw": config_raw,
            "diff_ids": diff_ids, "layers": [d["digest"] for d in descs], "raw_layers": layers,
            "platform": {"os": "linux", "architecture": arch}}


def add_entry(layout, desc, tag=None, extra_annotations=None):
    index_path = os.path.join(layout, "index.json")
    with open(index_path) as f:
        index = json.load(f)
    entry = dict(desc)
    annotations = dict(extra_annotations or {})
    if tag:
        annotations[REF_NAME] = tag
        index["manifests"] = [d for d in index["manifests"] if d.get("annotations", {}).get(REF_NAME) != tag]
    if annotations:
        entry["annotations"] = annotations
    index["manifests"].append(entry)
    with open(index_path, "w") as f:
        json.dump(index, f)


def write_tar(path, members, compress_with=None):
    """members: (name, kind, data_or_linkname) with kind file, dir, symlink, hardlink, char."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                         "char": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}[kind]
            if kind in ("symlink", "hardlink"):
                info.linkname = payload
            tar.addfile(info)
    data = buf.getvalue()
    if compress_with == "gzip":
        data = gzip.compress(data)
    with open(path, "wb") as f:
        f.write(data)


def layout_members(layout):
    """The members of an OCI layout directory, for write_tar."""
    out = [("oci-layout", "file", open(os.path.join(layout, "oci-layout"), "rb").read()),
           ("index.json", "file", open(os.path.join(layout, "index.json"), "rb").read())]
    for name in sorted(os.listdir(os.path.join(layout, "blobs", "sha256"))):
        with open(os.path.join(layout, "blobs", "sha256", name), "rb") as f:
            out.append(("blobs/sha256/" + name, "file", f.read()))
    return out


def docker_archive(path, images, layer_names="hex", compress_layers=False, extra=()):
    """A docker save style archive. images: list of (repo_tags, raw_layers)."""
    members, manifest = [], []
    for tags, layers in images:
        diff_ids = [sha(raw) for raw in layers]
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        names = []
        for i, raw in enumerate(layers):
            name = "%s.tar" % diff_ids[i][7:] if layer_names == "hex" else "%s/layer.tar" % diff_ids[i][7:]
            data = gzip.compress(raw) if compress_layers else raw
            if name not in [n for n, _, _ in members]:
                members.append((name, "file", data))
            names.append(name)
        members.append(("%s.json" % sha(config)[7:], "file", config))
        manifest.append({"Config": "%s.json" % sha(config)[7:], "RepoTags": tags, "Layers": names})
    members.append(("manifest.json", "file", json.dumps(manifest).encode()))
    write_tar(path, members + list(extra))
    return manifest


def tar_names(path):
    with tarfile.open(path) as tar:
        return tar.getnames()


def index_of(layout):
    with open(os.path.join(layout, "index.json")) as f:
        return json.load(f)


copy = tr.copy_between


@pytest.fixture
def image(tmp_path):
    layout = str(tmp_path / "src")
    info = build_image(layout, "x")
    info["layout"] = layout
    return info


# ---------------------------------------------------------------------------------------
# parse_transport
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ("oci:/srv/l", ("oci", "/srv/l", "")),
    ("oci:/srv/l:", ("oci", "/srv/l", "")),
    ("oci:/srv/l:x", ("oci", "/srv/l", "x")),
    ("oci:rel/dir:busybox:1.36", ("oci", "rel/dir", "busybox:1.36")),
    ("oci:/l:example.com/a/b:v1", ("oci", "/l", "example.com/a/b:v1")),
    ("oci-archive:/tmp/a.tar:y", ("oci-archive", "/tmp/a.tar", "y")),
    ("docker-archive:/tmp/d.tar", ("docker-archive", "/tmp/d.tar", "")),
    ("docker-archive:/tmp/d.tar:busybox:latest", ("docker-archive", "/tmp/d.tar", "busybox:latest")),
    ("docker-archive:/tmp/d.tar:@1", ("docker-archive", "/tmp/d.tar", "@1")),
    ("docker://busybox", ("docker", "", "busybox")),
    ("docker://localhost:5000/a/b:c", ("docker", "", "localhost:5000/a/b:c")),
    ("busybox", ("docker", "", "busybox")),
    ("localhost:5000/a/b:c", ("docker", "", "localhost:5000/a/b:c")),
    ("quay.io/x/y@sha256:" + "a" * 64, ("docker", "", "quay.io/x/y@sha256:" + "a" * 64)),
])
def test_parse_transport(text, expected):
    parsed = tr.parse_transport(text)
    assert tuple(parsed) == expected
    kind, path, ref = parsed
    assert tr.parse_transport(str(parsed)) == parsed


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("oci:", "needs a path"),
    ("oci::ref", "needs a path"),
    ("oci-archive:", "needs a path"),
    ("docker-archive::busybox", "needs a path"),
    ("oci:/a\x00b:x", "NUL"),
    ("oci:/l:bad name", "invalid image reference name"),
    ("oci:/l:-x", "invalid image reference name"),
    ("docker-archive:/d.tar:@x", "image index"),
    ("docker-archive:/d.tar:busybox@sha256:" + "a" * 64, "digest"),
    ("docker-archive:/d.tar:UPPER", "lowercase"),
    ("dir:/x", "not supported"),
    ("containers-storage:busybox", "not supported"),
    ("docker:busybox", "docker://"),
    ("docker://", "no reference"),
])
def test_parse_transport_errors(text, match):
    with pytest.raises(InvalidReferenceError, match=match):
        tr.parse_transport(text)


def test_registry_references_need_a_factory(tmp_path):
    with pytest.raises(InvalidReferenceError, match="registry"):
        tr.open_source("docker://busybox")
    with pytest.raises(InvalidReferenceError, match="registry"):
        tr.open_destination("busybox")
    assert tr.open_source("docker://busybox:1", docker=lambda ref: ("opened", ref)) == ("opened", "busybox:1")
    assert tr.open_destination("localhost:5000/a", docker=lambda ref: ref) == "localhost:5000/a"
    with pytest.raises(InvalidReferenceError, match="@N"):
        tr.open_destination("docker-archive:%s:@0" % (tmp_path / "d.tar"))


# ---------------------------------------------------------------------------------------
# oci: layouts
# ---------------------------------------------------------------------------------------
def test_layout_source_selects_by_ref_name_or_the_only_entry(tmp_path, image):
    src = lo.LayoutImageSource(image["layout"], "x")
    assert src.get_manifest().digest == image["digest"]
    assert src.describe() == "oci:%s:x" % image["layout"]
    only = lo.LayoutImageSource(image["layout"])
    assert only.get_manifest().digest == image["digest"]
    resolved = resolve_image(only)
    assert resolved.config["rootfs"]["diff_ids"] == image["diff_ids"]

    build_image(image["layout"], "second")
    with pytest.raises(lo.LayoutRefError, match=r"holds 2 images.*second, x"):
        lo.LayoutImageSource(image["layout"])
    with pytest.raises(lo.LayoutRefError, match=r"no image named 'nope' \(names: second, x\)"):
        lo.LayoutImageSource(image["layout"], "nope")


def test_layout_source_refuses_ambiguous_duplicate_names(tmp_path):
    layout = str(tmp_path / "l")
    a = build_image(layout, "a")
    b = build_image(layout, "b", index_entry=False)
    add_entry(layout, b["desc"], None, {REF_NAME: "a"})   # a second, different entry named "a"
    assert [d["digest"] for d in index_of(layout)["manifests"]] == [a["digest"], b["digest"]]
    with pytest.raises(lo.LayoutRefError, match="several different entries"):
        lo.LayoutImageSource(layout, "a")


def test_layout_source_errors(tmp_path, image):
    with pytest.raises(StoreError, match="not an OCI image layout"):
        lo.LayoutImageSource(str(tmp_path / "missing"), "x")
    empty = str(tmp_path / "empty")
    OCILayout.create(empty)
    with pytest.raises(lo.LayoutRefError, match="holds no image"):
        lo.LayoutImageSource(empty)
    # a blob that does not match its digest is caught
    path = os.path.join(image["layout"], "blobs", "sha256", image["digest"][7:])
    with open(path, "ab") as f:
        f.write(b" ")
    with pytest.raises(DigestMismatchError):
        lo.LayoutImageSource(image["layout"], "x").get_manifest()


def test_layout_to_layout_keeps_digest_and_other_refs(tmp_path, image):
    dest = str(tmp_path / "dest")
    result = copy("oci:%s:x" % image["layout"], "oci:%s:copy" % dest)
    assert result.changed and len(result.blobs_copied) == 3
    entry = index_of(dest)["manifests"][0]
    assert entry["digest"] == image["digest"]
    assert entry["annotations"] == {REF_NAME: "copy"}
    assert entry["platform"] == {"os": "linux", "architecture": "amd64"}
    with open(os.path.join(dest, "oci-layout")) as f:
        assert json.load(f) == {"imageLayoutVersion": "1.0.0"}
    for digest in image["layers"] + [image["config"], image["digest"]]:
        assert os.path.exists(os.path.join(dest, "blobs", "sha256", digest[7:]))

    again = copy("oci:%s:x" % image["layout"], "oci:%s:copy" % dest)
    assert not again.changed and not again.blobs_copied

    other = build_image(image["layout"], "other")
    copy("oci:%s:other" % image["layout"], "oci:%s:second" % dest)
    names = {d["annotations"][REF_NAME]: d["digest"] for d in index_of(dest)["manifests"]}
    assert names == {"copy": image["digest"], "second": other["digest"]}

    # replacing what a name points at replaces the entry, like skopeo
    assert copy("oci:%s:other" % image["layout"], "oci:%s:copy" % dest).changed
    names = [(d["annotations"][REF_NAME], d["digest"]) for d in index_of(dest)["manifests"]]
    assert sorted(names) == sorted([("copy", other["digest"]), ("second", other["digest"])])


def test_layout_destination_without_ref_adds_one_unnamed_entry(tmp_path, image):
    dest = str(tmp_path / "dest")
    assert copy("oci:%s:x" % image["layout"], "oci:%s" % dest).changed
    assert not copy("oci:%s:x" % image["layout"], "oci:%s" % dest).changed
    entries = index_of(dest)["manifests"]
    assert len(entries) == 1 and "annotations" not in entries[0]
    assert lo.LayoutImageSource(dest).get_manifest().digest == image["digest"]


def test_layout_destination_refuses_foreign_directories(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep")
    with pytest.raises(StoreError, match="non-empty directory that is not an OCI layout"):
        lo.LayoutImageDestination(str(foreign), "x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="not a directory"):
        lo.LayoutImageDestination(str(tmp_path / "file"), "x")
    empty = tmp_path / "empty"
    empty.mkdir()
    lo.LayoutImageDestination(str(empty), "x")
    assert (empty / "oci-layout").exists()


def test_layout_index_image_copies_the_requested_platform(tmp_path):
    layout = str(tmp_path / "multi")
    amd = build_image(layout, "amd", arch="amd64", index_entry=False)
    arm = build_image(layout, "arm", arch="arm64", index_entry=False)
    index = {"schemaVersion": 2, "mediaType": m.OCI_INDEX, "manifests": [
        dict(amd["desc"], platform=amd["platform"]), dict(arm["desc"], platform=arm["platform"])]}
    raw = json.dumps(index).encode()
    add_entry(layout, dict(mediaType=m.OCI_INDEX, **put(layout, raw)), "multi")
    src = lo.LayoutImageSource(layout, "multi")
    dest = lo.LayoutImageDestination(str(tmp_path / "dest"), "arm")
    result = copy_image(src, dest, platform="linux/arm64")
    assert result.image.manifest.digest == arm["digest"]
    assert lo.LayoutImageSource(str(tmp_path / "dest"), "arm").get_manifest().digest == arm["digest"]


def test_layout_destination_rejects_corrupt_blobs(tmp_path, image):
    victim = os.path.join(image["layout"], "blobs", "sha256", image["layers"][0][7:])
    with open(victim, "r+b") as f:
        f.seek(20)
        f.write(b"X")
    dest = str(tmp_path / "dest")
    with pytest.raises(DigestMismatchError):
        copy("oci:%s:x" % image["layout"], "oci:%s:x" % dest)
    assert not os.path.exists(os.path.join(dest, "blobs", "sha256", image["layers"][0][7:]))
    assert index_of(dest)["manifests"] == []


# ---------------------------------------------------------------------------------------
# oci-archive:
# ---------------------------------------------------------------------------------------
def test_oci_archive_round_trip_keeps_digests(tmp_path, image):
    archive = str(tmp_path / "img.tar")
    assert copy("oci:%s:x" % image["layout"], "oci-archive:%s:x" % archive).changed
    names = tar_names(archive)
    assert names[:3] == ["oci-layout", "index.json", "blobs"]
    assert sorted(n for n in names if n.startswith("blobs/sha256/")) == sorted(
        "blobs/sha256/" + d[7:] for d in image["layers"] + [image["config"], image["digest"]])
    src = lo.OciArchiveImageSource(archive, "x")
    assert src.get_manifest().digest == image["digest"]
    with src.open_file({"digest": image["config"]}) as f:
        f.seek(2)
        assert f.read() == image["config_raw"][2:]
    src.close()

    back = str(tmp_path / "back")
    copy("oci-archive:%s:x" % archive, "oci:%s:x" % back)
    entry = index_of(back)["manifests"][0]
    assert entry["digest"] == image["digest"]
    for d in image["layers"]:
        with open(os.path.join(back, "blobs", "sha256", d[7:]), "rb") as f:
            assert sha(f.read()) == d


def test_oci_archive_destination_keeps_other_refs_and_is_idempotent(tmp_path, image):
    archive = str(tmp_path / "img.tar")
    copy("oci:%s:x" % image["layout"], "oci-archive:%s:first" % archive)
    before = os.stat(archive)
    with open(archive, "rb") as f:
        first_bytes = f.read()
    assert not copy("oci:%s:x" % image["layout"], "oci-archive:%s:first" % archive).changed
    assert os.stat(archive).st_ino == before.st_ino

    other = build_image(image["layout"], "other")
    assert copy("oci:%s:other" % image["layout"], "oci-archive:%s:second" % archive).changed
    assert os.stat(archive).st_ino != before.st_ino
    assert lo.OciArchiveImageSource(archive, "first").get_manifest().digest == image["digest"]
    assert lo.OciArchiveImageSource(archive, "second").get_manifest().digest == other["digest"]
    with pytest.raises(lo.LayoutRefError, match="holds 2 images"):
        lo.OciArchiveImageSource(archive)

    # pointing "first" elsewhere drops the blobs nothing reaches any more
    copy("oci:%s:other" % image["layout"], "oci-archive:%s:first" % archive)
    blobs = {n.rsplit("/", 1)[1] for n in tar_names(archive) if n.startswith("blobs/sha256/")}
    assert image["digest"][7:] not in blobs and image["config"][7:] not in blobs
    assert other["digest"][7:] in blobs
    assert len(first_bytes) > 0
    # no temporary files left beside the archive
    assert sorted(os.listdir(tmp_path)) == ["img.tar", "src"]


def test_oci_archive_written_by_hand_and_compressed(tmp_path, image):
    plain = str(tmp_path / "plain.tar")
    members = [("./", "dir", None), ("./blobs/", "dir", None), ("./blobs/sha256/", "dir", None)]
    members += [("./" + n, k, d) for n, k, d in layout_members(image["layout"])]
    write_tar(plain, members)
    assert lo.OciArchiveImageSource(plain, "x").get_manifest().digest == image["digest"]
    gz = str(tmp_path / "img.tar.gz")
    write_tar(gz, layout_members(image["layout"]), compress_with="gzip")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    src = tr.open_source("oci-archive:%s:x" % gz, tmp_dir=str(tmp))
    dest = str(tmp_path / "dest")
    copy_image(src, lo.LayoutImageDestination(dest, "x"))
    src.close()
    assert index_of(dest)["manifests"][0]["digest"] == image["digest"]
    assert os.listdir(str(tmp)) == []   # the decompressed copy is unlinked at once


def test_oci_archive_with_docker_save_extras_is_accepted(tmp_path, image):
    archive = str(tmp_path / "docker25.tar")
    write_tar(archive, layout_members(image["layout"]) + [("manifest.json", "file", b"[]"),
                                                          ("repositories", "file", b"{}")])
    assert lo.OciArchiveImageSource(archive, "x").get_manifest().digest == image["digest"]


def _assert_nothing_written(tmp_path, before):
    after = sorted(str(p) for p in tmp_path.rglob("*"))
    assert after == before
    assert not os.path.exists("/tmp/undock-evil")


@pytest.mark.parametrize("extra,match", [
    ([("../undock-evil", "file", b"x")], "outside the archive"),
    ([("blobs/../../undock-evil", "file", b"x")], "outside the archive"),
    ([("/tmp/undock-evil", "file", b"x")], "absolute"),
    ([("blobs/sha256/" + "0" * 64, "symlink", "/etc/passwd")], "symlink"),
    ([("evil-link", "symlink", "/tmp")], "symlink"),
    ([("blobs/sha256/" + "1" * 64, "hardlink", "index.json")], "hard link"),
    ([("dev-null", "char", None)], "device node"),
    ([("etc/passwd", "file", b"root::0:0::/:/bin/sh\n")], "not part of an OCI image layout"),
    ([("blobs/sha256/not-a-digest", "file", b"x")], "not a blob"),
    ([("blobs/md5/" + "0" * 32, "file", b"x")], "not a blob"),
    ([("index.json", "file", b"{}")], "more than once"),
    ([("blobs/sha256/x\x00y", "file", b"x")], "NUL|not a blob"),
])
def test_hostile_oci_archives(tmp_path, image, extra, match):
    archive = str(tmp_path / "evil.tar")
    write_tar(archive, layout_members(image["layout"]) + extra)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    tmp = tmp_path / "tmp"
    with pytest.raises(da.ArchiveError, match=match):
        lo.OciArchiveImageSource(archive, "x", tmp_dir=str(tmp))
    with pytest.raises(da.ArchiveError, match=match):
        lo.OciArchiveImageDestination(archive, "y")   # an existing hostile FILE is refused too
    _assert_nothing_written(tmp_path, before)


def test_broken_oci_archives(tmp_path, image):
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"this is not a tar archive at all" * 40)
    with pytest.raises(da.ArchiveError, match="not a tar archive|corrupt"):
        lo.OciArchiveImageSource(str(bad))
    with pytest.raises(da.ArchiveError, match="no such file"):
        lo.OciArchiveImageSource(str(tmp_path / "missing.tar"))
    no_marker = str(tmp_path / "nomarker.tar")
    write_tar(no_marker, [x for x in layout_members(image["layout"]) if x[0] != "oci-layout"])
    with pytest.raises(da.ArchiveError, match="no oci-layout"):
        lo.OciArchiveImageSource(no_marker)
    # truncated in the middle of a blob
    whole = str(tmp_path / "whole.tar")
    write_tar(whole, layout_members(image["layout"]))
    data = open(whole, "rb").read()
    cut = data.index(open(os.path.join(image["layout"], "blobs", "sha256", image["layers"][1][7:]), "rb").read()[:64])
    (tmp_path / "cut.tar").write_bytes(data[:cut + 100])
    with pytest.raises(da.ArchiveError, match="truncated|corrupt"):
        src = lo.OciArchiveImageSource(str(tmp_path / "cut.tar"), "x")
        copy_image(src, lo.LayoutImageDestination(str(tmp_path / "d"), "x"))
    # a blob whose bytes do not match its name
    members = layout_members(image["layout"])
    members = [(n, k, (d[:-1] + b"!" if n.endswith(image["config"][7:]) else d)) for n, k, d in members]
    write_tar(str(tmp_path / "lying.tar"), members)
    with pytest.raises(DigestMismatchError):
        resolve_image(lo.OciArchiveImageSource(str(tmp_path / "lying.tar"), "x"))


# ---------------------------------------------------------------------------------------
# docker-archive:
# ---------------------------------------------------------------------------------------
def test_layout_to_docker_archive_and_back(tmp_path, image):
    archive = str(tmp_path / "d.tar")
    result = copy("oci:%s:x" % image["layout"], "docker-archive:%s:docker.io/library/busybox:latest" % archive)
    assert result.changed
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        assert manifest == [{"Config": image["config"][7:] + ".json", "RepoTags": ["docker.io/library/busybox:latest"],
                             "Layers": [d[7:] + ".tar" for d in image["diff_ids"]]}]
        assert tar.extractfile(image["config"][7:] + ".json").read() == image["config_raw"]
        for diff_id, raw in zip(image["diff_ids"], image["raw_layers"]):
            assert tar.extractfile(diff_id[7:] + ".tar").read() == raw   # uncompressed
        assert all(not (i.issym() or i.islnk()) for i in tar.getmembers())

    # idempotent: same bytes, file left alone
    inode = os.stat(archive).st_ino
    again = copy("oci:%s:x" % image["layout"], "docker-archive:%s:busybox" % archive)
    assert not again.changed and os.stat(archive).st_ino == inode

    back = str(tmp_path / "back")
    copy("docker-archive:%s" % archive, "oci:%s:x" % back)
    src = lo.LayoutImageSource(back, "x")
    resolved = resolve_image(src)
    assert resolved.manifest.media_type == m.OCI_MANIFEST
    assert resolved.manifest.config == {"mediaType": m.OCI_CONFIG, "digest": image["config"],
                                        "size": len(image["config_raw"])}
    assert [d["digest"] for d in resolved.manifest.layers] == image["diff_ids"]
    assert [d["mediaType"] for d in resolved.manifest.layers] == [m.OCI_LAYER, m.OCI_LAYER]
    assert resolved.config["rootfs"]["diff_ids"] == image["diff_ids"]
    assert resolved.config_raw == image["config_raw"]

    docker_form = da.DockerArchiveImageSource(archive, "busybox:latest", manifest_format="docker")
    doc = json.loads(docker_form.get_manifest().raw)
    assert doc["mediaType"] == m.DOCKER_MANIFEST and doc["config"]["mediaType"] == m.DOCKER_CONFIG
    assert {layer["mediaType"] for layer in doc["layers"]} == {da.DOCKER_LAYER}
    assert docker_form.repo_tags == ["docker.io/library/busybox:latest"]


def test_docker_archive_destination_decompresses_zstd_and_renames(tmp_path):
    if zstandard is None:
        pytest.skip("zstandard is not installed")
    layout = str(tmp_path / "z")
    img = build_image(layout, "z", how="zstd")
    archive = str(tmp_path / "z.tar")
    copy("oci:%s:z" % layout, "docker-archive:%s:localhost:5000/ns/app:v2" % archive)
    src = da.DockerArchiveImageSource(archive, "localhost:5000/ns/app:v2")
    assert src.repo_tags == ["localhost:5000/ns/app:v2"]
    assert [d["digest"] for d in src.get_manifest().layers] == img["diff_ids"]
    # a different name for the same image rewrites the file
    assert copy("oci:%s:z" % layout, "docker-archive:%s:other:1" % archive).changed
    assert da.DockerArchiveImageSource(archive).repo_tags == ["docker.io/library/other:1"]


def test_docker_archive_destination_checks_diff_ids(tmp_path):
    layout = str(tmp_path / "lie")
    layers = [layer_tar({"a": b"a"})]
    os.makedirs(layout)
    img = build_image(layout, "lie", layers=layers)
    # rewrite the config so that its diff_ids lie
    config = json.loads(img["config_raw"])
    config["rootfs"]["diff_ids"] = ["sha256:" + "0" * 64]
    config_raw = json.dumps(config).encode()
    cfg = dict(mediaType=m.OCI_CONFIG, **put(layout, config_raw))
    layer_desc = json.loads(open(os.path.join(layout, "blobs", "sha256", img["digest"][7:]), "rb").read())["layers"]
    raw = json.dumps({"schemaVersion": 2, "mediaType": m.OCI_MANIFEST, "config": cfg, "layers": layer_desc}).encode()
    add_entry(layout, dict(mediaType=m.OCI_MANIFEST, **put(layout, raw)), "lie")
    archive = str(tmp_path / "out.tar")
    with pytest.raises(ManifestError, match="rootfs.diff_ids"):
        copy("oci:%s:lie" % layout, "docker-archive:%s:x:y" % archive)
    assert not os.path.exists(archive)
    assert sorted(os.listdir(tmp_path)) == ["lie"]


def test_docker_archive_destination_refuses_indexes_and_bad_paths(tmp_path, image):
    with pytest.raises(InvalidReferenceError):
        da.DockerArchiveImageDestination(str(tmp_path / "d.tar"), "busybox@sha256:" + "a" * 64)
    with pytest.raises(da.ArchiveError, match="is a directory"):
        da.DockerArchiveImageDestination(str(tmp_path), "a:b")
    with pytest.raises(da.ArchiveError, match="does not exist"):
        da.DockerArchiveImageDestination(str(tmp_path / "no" / "d.tar"), "a:b")
    dest = da.DockerArchiveImageDestination(str(tmp_path / "d.tar"), "a:b")
    index = m.parse_manifest(json.dumps({"schemaVersion": 2, "mediaType": m.OCI_INDEX, "manifests": []}).encode())
    with pytest.raises(ManifestError, match="select a platform"):
        dest.put_manifest(index)
    dest.close()
    assert not os.path.exists(dest.work)


def test_docker_archive_source_selection(tmp_path):
    l1, l2 = layer_tar({"one": b"1"}), layer_tar({"two": b"2"})
    archive = str(tmp_path / "multi.tar")
    manifest = docker_archive(archive, [(["busybox:latest", "localhost:5000/x/y:2"], [l1]),
                                        (["alpine:3"], [l1, l2])], layer_names="legacy")
    with pytest.raises(da.ArchiveError, match=r"holds 2 images.*alpine:3, busybox:latest"):
        da.DockerArchiveImageSource(archive)
    for ref, item in [("docker.io/library/busybox", 0), ("busybox", 0), ("localhost:5000/x/y:2", 1 - 1),
                      ("alpine:3", 1), ("@1", 1), ("@0", 0), ("docker.io/library/alpine:3", 1)]:
        src = da.DockerArchiveImageSource(archive, ref)
        assert src.config_digest == "sha256:" + manifest[item]["Config"][:-5]
        src.close()
    with pytest.raises(da.ArchiveError, match=r"no image named alpine:latest"):
        da.DockerArchiveImageSource(archive, "alpine")
    with pytest.raises(da.ArchiveError, match="no image @2"):
        da.DockerArchiveImageSource(archive, "@2")
    src = tr.open_source("docker-archive:%s:alpine:3" % archive)
    dest = str(tmp_path / "out")
    copy_image(src, tr.open_destination("oci:%s:alpine" % dest))
    resolved = resolve_image(lo.LayoutImageSource(dest, "alpine"))
    assert [d["digest"] for d in resolved.manifest.layers] == [sha(l1), sha(l2)]
    assert [d["size"] for d in resolved.manifest.layers] == [len(l1), len(l2)]


def test_docker_archive_source_with_compressed_layers(tmp_path):
    raw = layer_tar({"big": os.urandom(100000)})
    archive = str(tmp_path / "gz.tar")
    docker_archive(archive, [(["gz:1"], [raw])], compress_layers=True)
    src = da.DockerArchiveImageSource(archive)
    layer = src.get_manifest().layers[0]
    assert layer == {"mediaType": m.OCI_LAYER, "digest": sha(raw), "size": len(raw)}
    dest = str(tmp_path / "out")
    copy_image(src, lo.LayoutImageDestination(dest, "gz"))
    with open(os.path.join(dest, "blobs", "sha256", sha(raw)[7:]), "rb") as f:
        assert f.read() == raw

    # a compressed layer whose content does not match the config's diff ID
    members = [("manifest.json", "file", json.dumps([{"Config": "c.json", "RepoTags": [], "Layers": ["l.tar"]}]).encode()),
               ("c.json", "file", json.dumps({"architecture": "amd64", "os": "linux",
                                              "rootfs": {"type": "layers", "diff_ids": [sha(b"other")]}}).encode()),
               ("l.tar", "file", gzip.compress(raw))]
    write_tar(str(tmp_path / "lie.tar"), members)
    with pytest.raises(DigestMismatchError, match="diff ID"):
        da.DockerArchiveImageSource(str(tmp_path / "lie.tar"))


@pytest.mark.parametrize("item,extra,match", [
    ({"Config": "../../etc/passwd", "Layers": []}, [], "outside the archive"),
    ({"Config": "/etc/passwd", "Layers": []}, [], "absolute"),
    ({"Config": "CFG", "Layers": ["../../../etc/passwd"]}, [], "outside the archive"),
    ({"Config": "CFG", "Layers": ["/etc/passwd"]}, [], "absolute"),
    ({"Config": "CFG", "Layers": ["link.tar"]}, [("link.tar", "symlink", "/etc/passwd")], "symlink"),
    ({"Config": "link.json", "Layers": []}, [("link.json", "symlink", "../../etc/passwd")], "symlink"),
    ({"Config": "CFG", "Layers": ["missing.tar"]}, [], "no member 'missing.tar'"),
    ({"Config": "CFG", "Layers": ["LAYER"]}, [("../escape", "file", b"x")], "outside the archive"),
    ({"Config": "CFG", "Layers": ["LAYER"]}, [("/tmp/undock-evil", "file", b"x")], "absolute"),
    ({"Config": "CFG", "Layers": ["LAYER"]}, [("hard", "hardlink", "/etc/passwd")], "hard link"),
    ({"Config": "CFG", "Layers": ["LAYER", "LAYER"]}, [], "2 layers but the config has 1"),
    ({"Layers": ["LAYER"]}, [], "no Config"),
    ({"Config": "CFG", "Layers": "LAYER"}, [], "not a list"),
])
def test_hostile_docker_archives(tmp_path, item, extra, match):
    raw = layer_tar({"a": b"a"})
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha(raw)]}}).encode()
    item = json.loads(json.dumps(item).replace("CFG", "cfg.json").replace("LAYER", "layer.tar"))
    members = [("manifest.json", "file", json.dumps([item]).encode()), ("cfg.json", "file", config),
               ("layer.tar", "file", raw)] + extra
    archive = str(tmp_path / "evil.tar")
    write_tar(archive, members)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(da.ArchiveError, match=match):
        da.DockerArchiveImageSource(archive, tmp_dir=str(tmp_path))
    _assert_nothing_written(tmp_path, before)


def test_docker_archive_tolerates_unreferenced_legacy_symlinks(tmp_path):
    raw = layer_tar({"a": b"a"})
    archive = str(tmp_path / "skopeo-style.tar")
    docker_archive(archive, [(["docker.io/library/x:1"], [raw])],
                   extra=[("0" * 64 + "/layer.tar", "symlink", "../%s.tar" % sha(raw)[7:]),
                          ("0" * 64 + "/VERSION", "file", b"1.0")])
    src = tr.open_source("docker-archive:%s:x:1" % archive)
    assert src.get_manifest().layers[0]["digest"] == sha(raw)
    assert src.read_blob(src.get_manifest().layers[0]) == raw


def test_docker_archive_without_manifest_json(tmp_path):
    write_tar(str(tmp_path / "x.tar"), [("repositories", "file", b"{}")])
    with pytest.raises(da.ArchiveError, match="no manifest.json"):
        da.DockerArchiveImageSource(str(tmp_path / "x.tar"))
    write_tar(str(tmp_path / "y.tar"), [("manifest.json", "file", b"{not json")])
    with pytest.raises(da.ArchiveError, match="not valid JSON"):
        da.DockerArchiveImageSource(str(tmp_path / "y.tar"))


# ---------------------------------------------------------------------------------------
# every file transport to every other
# ---------------------------------------------------------------------------------------
FORMS = {"oci": "oci:{d}/layout-{n}:img", "oci-archive": "oci-archive:{d}/oci-{n}.tar:img",
         "docker-archive": "docker-archive:{d}/docker-{n}.tar:example.com/app:1"}


@pytest.mark.parametrize("via", sorted(FORMS))
@pytest.mark.parametrize("how", ["gzip", "none"])
def test_copy_chain_through_each_transport(tmp_path, via, how):
    layout = str(tmp_path / "src")
    img = build_image(layout, "x", how=how)
    middle = FORMS[via].format(d=tmp_path, n=1)
    copy("oci:%s:x" % layout, middle)
    final = str(tmp_path / "final")
    copy(middle, "oci:%s:x" % final)
    resolved = resolve_image(lo.LayoutImageSource(final, "x"))
    assert resolved.config_raw == img["config_raw"]
    assert resolved.config["rootfs"]["diff_ids"] == img["diff_ids"]
    if via == "docker-archive":
        assert [d["digest"] for d in resolved.manifest.layers] == img["diff_ids"]
    else:
        assert resolved.manifest.digest == img["digest"]
        assert [d["digest"] for d in resolved.manifest.layers] == img["layers"]
    # and on to the other archive kinds
    for other in sorted(FORMS):
        target = FORMS[other].format(d=tmp_path, n=2)
        copy(middle, target)
        again = tr.open_source(target)
        assert resolve_image(again).config["rootfs"]["diff_ids"] == img["diff_ids"]
        again.close()


def test_all_errors_are_undock_errors(tmp_path):
    for text in ("oci:%s:x" % (tmp_path / "none"), "oci-archive:%s" % (tmp_path / "none.tar"),
                 "docker-archive:%s" % (tmp_path / "none.tar")):
        with pytest.raises(UndockError):
            tr.open_source(text)


def test_corrupt_compressed_archive_leaves_no_temporary_file(tmp_path, image):
    plain = str(tmp_path / "plain.tar")
    write_tar(plain, layout_members(image["layout"]))
    data = gzip.compress(open(plain, "rb").read())
    (tmp_path / "cut.tar.gz").write_bytes(data[:len(data) // 2])
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with pytest.raises(da.ArchiveError, match="truncated"):
        tr.open_source("oci-archive:%s:x" % (tmp_path / "cut.tar.gz"), tmp_dir=str(tmp))
    assert os.listdir(str(tmp)) == []


class FlakySource:
    """Delegates to a source; every blob's first open fails with a TransientError."""

    def __init__(self, inner):
        self.inner, self.failed = inner, set()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def blob_opener(self, desc):
        real = self.inner.blob_opener(desc)

        def opener(offset):
            if desc["digest"] not in self.failed:
                self.failed.add(desc["digest"])
                raise TransientError("connection reset")
            return real(offset)
        return opener


def test_docker_archive_destination_retries_transient_errors(tmp_path, image, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    src = FlakySource(lo.LayoutImageSource(image["layout"], "x"))
    dest = da.DockerArchiveImageDestination(str(tmp_path / "d.tar"), "a:b")
    copy_image(src, dest)
    dest.close()
    # every layer failed once and was retried; the config comes from the bytes resolve_image read
    assert src.failed == set(image["layers"])
    assert da.DockerArchiveImageSource(str(tmp_path / "d.tar")).config_digest == image["config"]



class CountingSource(FlakySource):
    """Delegates to a source; records every blob it is asked to open, and never fails."""

    def __init__(self, inner):
        super().__init__(inner)
        self.opened = []

    def blob_opener(self, desc):
        real = self.inner.blob_opener(desc)

        def opener(offset):
            self.opened.append(desc["digest"])
            return real(offset)
        return opener


def test_copy_takes_the_config_from_what_resolve_read(tmp_path, image):
    src = CountingSource(lo.LayoutImageSource(image["layout"], "x"))
    dest = lo.LayoutImageDestination(str(tmp_path / "d"), "y")
    result = copy_image(src, dest)
    # the copy opened each layer once and the config not at all: resolve_image already read it
    assert sorted(src.opened) == sorted(image["layers"])
    assert image["config"] in result.blobs_copied
    with open(str(tmp_path / "d" / "blobs" / "sha256" / image["config"][7:]), "rb") as handle:
        assert handle.read() == image["config_raw"]


def test_copy_checks_the_config_it_took_from_memory(tmp_path, image):
    # what resolve read is checked again as the destination takes it in: bytes that do not
    # match the config's digest never get its name
    src = lo.LayoutImageSource(image["layout"], "x")
    resolved = resolve_image(src)
    resolved.config_raw = resolved.config_raw + b" "
    dest = lo.LayoutImageDestination(str(tmp_path / "d"), "y")
    with pytest.raises(DigestMismatchError):
        copy_image(src, dest, image=resolved)
    assert not os.path.exists(str(tmp_path / "d" / "blobs" / "sha256" / image["config"][7:]))

def test_oci_archive_destination_keeps_blobs_it_cannot_account_for(tmp_path, image):
    # an entry without mediaType is still walked; an artifact we cannot parse keeps everything
    layout = image["layout"]
    untyped = build_image(layout, "untyped", index_entry=False)
    add_entry(layout, {"digest": untyped["digest"], "size": untyped["desc"]["size"]}, "untyped")
    archive = str(tmp_path / "a.tar")
    write_tar(archive, layout_members(layout))
    other = build_image(str(tmp_path / "other"), "o")
    copy("oci:%s:o" % (tmp_path / "other"), "oci-archive:%s:x" % archive)   # replaces "x"
    blobs = {n.rsplit("/", 1)[1] for n in tar_names(archive) if n.startswith("blobs/")}
    assert {d[7:] for d in untyped["layers"] + [untyped["config"], untyped["digest"]]} <= blobs
    assert image["digest"][7:] not in blobs and other["digest"][7:] in blobs

    artifact = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.example.thing.v1+json",
                           "blobs": [{"digest": image["digest"]}]}).encode()
    add_entry(layout, dict(mediaType="application/vnd.example.thing.v1+json", **put(layout, artifact)), "art")
    write_tar(archive, layout_members(layout))
    copy("oci:%s:o" % (tmp_path / "other"), "oci-archive:%s:x" % archive)
    blobs = {n.rsplit("/", 1)[1] for n in tar_names(archive) if n.startswith("blobs/")}
    assert image["digest"][7:] in blobs and sha(artifact)[7:] in blobs
    with tarfile.open(archive) as tar:
        kept = json.load(tar.extractfile("index.json"))["manifests"]
    assert [d["digest"] for d in kept if d["annotations"][REF_NAME] == "untyped"] == [untyped["digest"]]
    # as a source, the image-spec's index schema requires every descriptor's mediaType
    with pytest.raises(ManifestError, match=r"index.json: \$.manifests\[\d\]: required field 'mediaType' is missing"):
        lo.OciArchiveImageSource(archive, "untyped")
