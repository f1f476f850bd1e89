# -*- coding: utf-8 -*-
"""Layer unpacking and (de)compression: round trips, digests, semantics, streaming."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
import tracemalloc
import zlib

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.errors import (
    DigestMismatchError, LayerError)
from ansible_collections.undock.oci.plugins.module_utils.storage import compression
from ansible_collections.undock.oci.plugins.module_utils.storage.trees import remove_tree
from ansible_collections.undock.oci.plugins.module_utils.storage.unpack import UnpackResult, unpack_layer

ROOT = os.geteuid() == 0
root_only = pytest.mark.skipif(not ROOT, reason="needs root (ownership, devices, trusted xattrs)")

MTIME = 1600000000
CAP = bytes.fromhex("0100000200200000000000000000000000000000")  # cap_net_raw+ep, v2


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Tar:
    """Builds a layer with the stdlib tarfile writer (writing is fine, reading is ours)."""

    def __init__(self, fmt=tarfile.PAX_FORMAT):
        self.buf = io.BytesIO()
        self.tf = tarfile.open(fileobj=self.buf, mode="w", format=fmt, encoding="utf-8",
                               errors="surrogateescape")

    def add(self, name, type=tarfile.REGTYPE, data=b"", mode=0o644, mtime=MTIME, **kw):
        info = tarfile.TarInfo(name)
        info.type = type
        info.mode = mode
        info.mtime = mtime
        info.size = len(data) if type == tarfile.REGTYPE else 0
        for key, value in kw.items():
            setattr(info, key, value)
        self.tf.addfile(info, io.BytesIO(data) if data else None)
        return self

    def dir(self, name, mode=0o755, **kw):
        return self.add(name, tarfile.DIRTYPE, mode=mode, **kw)

    def bytes(self) -> bytes:
        self.tf.close()
        return self.buf.getvalue()


@pytest.fixture
def dest(tmp_path):
    path = tmp_path / "layer"
    path.mkdir(mode=0o700)
    return str(path)


def unpack(data: bytes, dest: str, **kw) -> UnpackResult:
    return unpack_layer(io.BytesIO(data), dest, **kw)


# -- round trips --------------------------------------------------------------------------

@root_only
def test_round_trip_all_entry_types(dest):
    layer = (Tar()
             .dir("./", mode=0o755)
             .dir("etc", mode=0o750, uid=12, gid=34, mtime=MTIME + 1)
             .add("etc/shadow", data=b"secret\n", mode=0o640, uid=0, gid=42)
             .add("bin/su", data=b"\x7fELF", mode=0o4755, uid=0, gid=0)
             .add("bin/wall", data=b"\x7fELF", mode=0o2755, gid=5)
             .dir("tmp", mode=0o1777)
             .add("bin/ping", data=b"ping", mode=0o755,
                  pax_headers={"SCHILY.xattr.security.capability": CAP.decode("latin-1"),
                               "SCHILY.xattr.trusted.note": "hello"})
             .add("bin/link-to-su", tarfile.LNKTYPE, linkname="bin/su")
             .add("bin/sh", tarfile.SYMTYPE, linkname="/bin/bash", uid=7, gid=8, mtime=MTIME + 2)
             .add("bin/dangling", tarfile.SYMTYPE, linkname="../../nowhere")
             .add("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)
             .add("dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0, mode=0o660, gid=6)
             .add("run/fifo", tarfile.FIFOTYPE, mode=0o600, uid=1000, gid=1000)
             .add("home/user/big-ids", data=b"x", uid=100000, gid=200000)
             .dir("locked", mode=0o500)
             .add("locked/file", data=b"inside a read-only dir", mode=0o400)
             .bytes())
    result = unpack(layer, dest)
    assert result.entries == 16
    assert result.diff_id == sha256(layer) and result.blob_digest == sha256(layer)
    assert result.compression == "plain" and result.size == len(layer)

    def st(rel):
        return os.lstat(os.path.join(dest, rel))

    assert stat.S_IMODE(st("etc").st_mode) == 0o750
    assert (st("etc").st_uid, st("etc").st_gid) == (12, 34)
    assert st("etc").st_mtime_ns == (MTIME + 1) * 10 ** 9  # restored after its content
    with open(os.path.join(dest, "etc/shadow"), "rb") as handle:
        assert handle.read() == b"secret\n"
    assert (stat.S_IMODE(st("etc/shadow").st_mode), st("etc/shadow").st_gid) == (0o640, 42)
    assert stat.S_IMODE(st("bin/su").st_mode) == 0o4755
    assert stat.S_IMODE(st("bin/wall").st_mode) == 0o2755 and st("bin/wall").st_gid == 5
    assert stat.S_IMODE(st("tmp").st_mode) == 0o1777
    assert os.getxattr(os.path.join(dest, "bin/ping"), "security.capability") == CAP
    assert os.getxattr(os.path.join(dest, "bin/ping"), "trusted.note") == b"hello"
    assert st("bin/link-to-su").st_ino == st("bin/su").st_ino and st("bin/su").st_nlink == 2
    assert os.readlink(os.path.join(dest, "bin/sh")) == "/bin/bash"
    assert (st("bin/sh").st_uid, st("bin/sh").st_gid) == (7, 8)
    assert st("bin/sh").st_mtime_ns == (MTIME + 2) * 10 ** 9
    assert os.readlink(os.path.join(dest, "bin/dangling")) == "../../nowhere"
    assert stat.S_ISCHR(st("dev/null").st_mode) and st("dev/null").st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(st("dev/null").st_mode) == 0o666
    assert stat.S_ISBLK(st("dev/sda").st_mode) and st("dev/sda").st_rdev == os.makedev(8, 0)
    assert stat.S_ISFIFO(st("run/fifo").st_mode) and st("run/fifo").st_uid == 1000
    assert (st("home/user/big-ids").st_uid, st("home/user/big-ids").st_gid) == (100000, 200000)
    assert stat.S_IMODE(st("locked").st_mode) == 0o500
    assert stat.S_IMODE(st("locked/file").st_mode) == 0o400
    for rel in ("etc/shadow", "bin/su", "dev/null", "run/fifo", "locked/file"):
        assert st(rel).st_mtime_ns == MTIME * 10 ** 9, rel
    # Implicit parents are plain 0755 directories.
    assert stat.S_IMODE(st("home/user").st_mode) == 0o755
    # The root entry's attributes apply to the layer root.
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o755


def test_file_content_and_sizes(dest):
    files = {"empty": b"", "one": b"1", "block": b"b" * 512, "odd": os.urandom(70001),
             "multi-chunk": os.urandom(3 * 1024 * 1024 + 17)}
    tar = Tar()
    for name, data in files.items():
        tar.add("data/" + name, data=data)
    unpack(tar.bytes(), dest)
    for name, data in files.items():
        with open(os.path.join(dest, "data", name), "rb") as handle:
            assert handle.read() == data


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_long_names_every_format(dest, fmt):
    long_dir = "/".join("directory%02d" % i for i in range(12))  # > 100 bytes
    name = long_dir + "/file"
    tar = Tar(fmt).add(name, data=b"deep")
    if fmt != tarfile.USTAR_FORMAT:  # ustar cannot hold a long link name
        tar.add("link", tarfile.SYMTYPE, linkname="/" + long_dir + "/" + "t" * 120)
    unpack(tar.bytes(), dest)
    with open(os.path.join(dest, name), "rb") as handle:
        assert handle.read() == b"deep"
    if fmt != tarfile.USTAR_FORMAT:
        assert os.readlink(os.path.join(dest, "link")).endswith("t" * 120)


def test_pax_fractional_mtime_and_non_utf8_names(dest):
    tar = Tar(tarfile.GNU_FORMAT)
    tar.add("caf\udce9", data=b"latin-1 name")  # raw byte 0xe9, not UTF-8
    data = tar.bytes()
    pax = Tar().add("frac", data=b"x", pax_headers={"mtime": "1600000000.123456789"}).bytes()
    unpack(data, dest)
    assert b"caf\xe9" in os.listdir(dest.encode())
    other = dest + "-2"
    os.mkdir(other)
    unpack(pax, other)
    assert os.lstat(os.path.join(other, "frac")).st_mtime_ns == 1600000000123456789


def test_leading_slash_and_dot_names_are_relative(dest):
    unpack(Tar().add("/abs/file", data=b"a").add("./dot/./file", data=b"b")
           .add("dot//double", data=b"c").bytes(), dest)
    for rel, data in (("abs/file", b"a"), ("dot/file", b"b"), ("dot/double", b"c")):
        with open(os.path.join(dest, rel), "rb") as handle:
            assert handle.read() == data


# -- replacement semantics (image-spec "changeset over existing files") --------------------

def test_later_entries_replace_earlier_ones(dest):
    layer = (Tar()
             .add("f2d", data=b"file").dir("f2d", mode=0o700).add("f2d/inner", data=b"i")
             .dir("d2f").add("d2f/gone", data=b"g").add("d2f", data=b"now a file")
             .dir("keep", mode=0o755).add("keep/a", data=b"a").dir("keep", mode=0o711)
             .add("s", tarfile.SYMTYPE, linkname="/etc/passwd").add("s", data=b"plain")
             .add("h-target", data=b"old").add("h", tarfile.LNKTYPE, linkname="h-target")
             .add("h-target", data=b"new")
             .bytes())
    unpack(layer, dest)
    assert os.path.isdir(os.path.join(dest, "f2d"))
    assert open(os.path.join(dest, "f2d/inner"), "rb").read() == b"i"
    assert open(os.path.join(dest, "d2f"), "rb").read() == b"now a file"
    assert sorted(os.listdir(os.path.join(dest, "keep"))) == ["a"]  # dir over dir keeps content
    assert stat.S_IMODE(os.stat(os.path.join(dest, "keep")).st_mode) == 0o711  # new attributes
    assert not os.path.islink(os.path.join(dest, "s"))
    assert open(os.path.join(dest, "s"), "rb").read() == b"plain"
    # Replacing a hardlinked name unlinks it: the other link keeps the old content.
    assert open(os.path.join(dest, "h"), "rb").read() == b"old"
    assert open(os.path.join(dest, "h-target"), "rb").read() == b"new"


@root_only
def test_whiteouts_become_overlay_native(dest):
    layer = (Tar().dir("etc").add("etc/.wh.old.conf").dir("var/cache")
             .add("var/cache/.wh..wh..opq").add(".wh.top").bytes())
    result = unpack(layer, dest)
    assert result.entries == 5
    for rel in ("etc/old.conf", "top"):
        st = os.lstat(os.path.join(dest, rel))
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(os.path.join(dest, "var/cache"), "trusted.overlay.opaque") == b"y"
    assert not any(name.startswith(".wh.") for _, dirs, files in os.walk(dest)
                   for name in dirs + files)


# -- compression and digests ---------------------------------------------------------------

def _sample_layer() -> bytes:
    return (Tar().dir("app").add("app/data", data=os.urandom(200000) + b"z" * 300000)
            .add("app/run", data=b"#!/bin/sh\n", mode=0o755).bytes())


def _zstd(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    return zstandard.ZstdCompressor(level=3).compress(data)


@pytest.mark.parametrize("threads", [False, True])
@pytest.mark.parametrize("kind", ["plain", "gzip", "gzip-zlib", "gzip-multimember", "zstd"])
def test_compressions_and_digests(dest, kind, threads, monkeypatch):
    layer = _sample_layer()
    if kind == "plain":
        blob = layer
    elif kind == "gzip":
        blob = gzip.compress(layer)
    elif kind == "gzip-zlib":
        monkeypatch.setattr(compression, "_isal_zlib", False)  # as if isal were missing
        blob = gzip.compress(layer)
    elif kind == "gzip-multimember":
        blob = gzip.compress(layer[:10000]) + gzip.compress(layer[10000:]) + b"\0" * 20
    else:
        blob = _zstd(layer)
    result = unpack(blob, dest, expected_blob_digest=sha256(blob), expected_diff_id=sha256(layer),
                    expected_blob_size=len(blob), threads=threads)
    assert result.blob_digest == sha256(blob)
    assert result.diff_id == sha256(layer)
    assert result.blob_size == len(blob) and result.size == len(layer)
    assert result.compression == kind.split("-")[0]
    assert open(os.path.join(dest, "app/run"), "rb").read() == b"#!/bin/sh\n"


def test_media_type_is_only_a_hint(dest):
    layer = _sample_layer()
    result = unpack(gzip.compress(layer), dest,
                    media_type="application/vnd.oci.image.layer.v1.tar+zstd")
    assert result.compression == "gzip" and result.diff_id == sha256(layer)


def test_sha512_digests(dest):
    layer = _sample_layer()
    blob = gzip.compress(layer)
    expected = "sha512:" + hashlib.sha512(blob).hexdigest()
    result = unpack(blob, dest, expected_blob_digest=expected)
    assert result.blob_digest == expected


def test_blob_digest_mismatch(dest):
    blob = gzip.compress(_sample_layer())
    with pytest.raises(DigestMismatchError):
        unpack(blob, dest, expected_blob_digest=sha256(b"something else"))


def test_blob_size_mismatch(dest):
    blob = gzip.compress(_sample_layer())
    with pytest.raises(DigestMismatchError):
        unpack(blob, dest, expected_blob_size=len(blob) + 1)
    other = dest + "-2"
    os.mkdir(other)
    with pytest.raises(DigestMismatchError):
        unpack(blob, other, expected_blob_size=len(blob) - 1)


def test_diff_id_mismatch_is_a_layer_error(dest):
    blob = gzip.compress(_sample_layer())
    with pytest.raises(LayerError) as info:
        unpack(blob, dest, expected_blob_digest=sha256(blob), expected_diff_id=sha256(b"other"))
    assert "diff ID" in str(info.value)
    assert not isinstance(info.value, DigestMismatchError)


def test_trailing_data_after_end_of_archive_is_hashed(dest):
    layer = _sample_layer() + bytes(10240)  # extra record padding, like many writers
    result = unpack(gzip.compress(layer), dest)
    assert result.diff_id == sha256(layer)


def test_empty_layers(dest):
    assert unpack(b"", dest).entries == 0
    assert unpack(bytes(1024), dest).diff_id == sha256(bytes(1024))
    assert unpack(gzip.compress(bytes(1024)), dest).entries == 0


def test_zstd_without_zstandard_names_the_package(dest, monkeypatch):
    blob = _zstd(_sample_layer())
    monkeypatch.setattr(compression, "_zstd", False)
    with pytest.raises(LayerError, match="zstandard"):
        unpack(blob, dest)


@pytest.mark.parametrize("blob, message", [
    (gzip.compress(b"x" * 5000)[:-30], "truncated"),
    (gzip.compress(bytes(1024)) + b"garbage", "trailing garbage"),
    (b"\x1f\x8b\x08\x00" + b"\xff" * 100, "corrupt"),
    (b"BZh91AY&SY", "bzip2"),
])
def test_corrupt_compressed_streams(dest, blob, message):
    with pytest.raises(LayerError, match=message):
        unpack(blob, dest)


@pytest.mark.parametrize("threads", [False, True])
def test_decompressed_size_limit(dest, threads):
    with pytest.raises(LayerError, match="size limit"):
        unpack(gzip.compress(Tar().add("big", data=bytes(4 << 20)).bytes()), dest,
               max_size=1 << 20, threads=threads)


def test_open_decompressed_limits_each_read():
    blob = gzip.compress(bytes(64 << 20), 9)
    reader = compression.open_decompressed(io.BytesIO(blob), max_size=None)
    assert reader.compression == "gzip"
    assert len(reader.read(4096)) <= 4096  # never more than asked, whatever the ratio
    reader = compression.open_decompressed(io.BytesIO(blob), max_size=8 << 20)
    with pytest.raises(LayerError, match="size limit"):
        while reader.read(1 << 20):
            pass


@pytest.mark.parametrize("kind, backend", [("gzip", "zlib"), ("gzip", None), ("zstd", None),
                                           ("plain", None)])
def test_compress_writer_round_trip(dest, kind, backend):
    if kind == "zstd":
        pytest.importorskip("zstandard")
    layer = _sample_layer()
    out = io.BytesIO()
    with compression.CompressWriter(out, kind, backend=backend) as writer:
        for i in range(0, len(layer), 65536):
            writer.write(layer[i:i + 65536])
    blob = out.getvalue()
    assert writer.diff_id == sha256(layer) and writer.blob_digest == sha256(blob)
    assert writer.blob_size == len(blob)
    result = unpack(blob, dest, expected_blob_digest=writer.blob_digest,
                    expected_diff_id=writer.diff_id)
    assert result.compression == kind


def test_zlib_gzip_output_is_reproducible():
    data = _sample_layer()
    one, two = (compression.compressor("gzip", 6, backend="zlib") for _ in range(2))
    assert one.compress(data) + one.flush() == two.compress(data) + two.flush()


# -- streaming: memory stays flat ----------------------------------------------------------

def _write_big_layer(path: str, files: int, size: int, compress: bool) -> str:
    """A layer of a few big files, written in chunks: never whole in memory."""
    block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB, compressible across blocks
    digest = hashlib.sha256()
    comp = zlib.compressobj(1, zlib.DEFLATED, 31) if compress else None
    with open(path, "wb") as handle:
        def emit(data):
            digest.update(data)
            handle.write(comp.compress(data) if comp else data)
        for i in range(files):
            info = tarfile.TarInfo("big/file%d" % i)
            info.size = size
            emit(info.tobuf(tarfile.PAX_FORMAT))
            for _ in range(size // len(block)):
                emit(block)
        emit(bytes(1024))
        if comp:
            handle.write(comp.flush())
    return "sha256:" + digest.hexdigest()


@pytest.mark.parametrize("compress, threads", [(False, False), (True, False), (True, True)])
def test_unpacking_100mb_keeps_memory_flat(tmp_path, compress, threads):
    layer_file = str(tmp_path / "layer.blob")
    diff_id = _write_big_layer(layer_file, 4, 25 << 20, compress)
    dest = str(tmp_path / "out")
    os.mkdir(dest)
    tracemalloc.start()
    try:
        with open(layer_file, "rb") as blob:
            result = unpack_layer(blob, dest, expected_diff_id=diff_id, threads=threads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.size > 100 << 20
    assert os.path.getsize(os.path.join(dest, "big/file3")) == 25 << 20
    assert peak < 8 << 20, "peak Python memory %d bytes" % peak


# -- remove_tree -------------------------------------------------------------------------------

def test_remove_tree_handles_locked_dirs_and_never_follows_symlinks(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"keep")
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "f").write_bytes(b"f")
    os.symlink(str(outside), str(tree / "a" / "out"))
    os.symlink(str(outside / "keep"), str(tree / "keep-link"))
    os.chmod(str(tree / "a" / "b"), 0)
    os.chmod(str(tree / "a"), 0)
    remove_tree(str(tree))
    assert not os.path.lexists(str(tree))
    assert (outside / "keep").read_bytes() == b"keep"
    remove_tree(str(tree))  # missing: no error
    (tmp_path / "file").write_bytes(b"x")
    remove_tree(str(tmp_path / "file"))
    assert not (tmp_path / "file").exists()


def test_unpack_errors_leave_a_removable_tree(dest):
    layer = Tar().dir("d", mode=0).add("d/f", data=b"x").bytes()
    # Fails at the very end (modes applied): the caller still removes everything.
    with pytest.raises(LayerError):
        unpack(layer, dest, expected_diff_id=sha256(b"not this"))
    assert stat.S_IMODE(os.stat(os.path.join(dest, "d")).st_mode) == 0
    remove_tree(dest)
    assert not os.path.lexists(dest)
    # Fails in the middle (a corrupt header after the entries).
    os.mkdir(dest)
    body = layer.rstrip(b"\0")
    body += bytes(-len(body) % 512) + b"\x01" * 512
    with pytest.raises(LayerError, match="checksum"):
        unpack(body, dest)
    remove_tree(dest)
    assert not os.path.lexists(dest)


@pytest.mark.parametrize("threads", [False, True])
def test_corruption_in_transit_is_reported_as_a_digest_mismatch(dest, threads):
    blob = bytearray(gzip.compress(_sample_layer()))
    expected = sha256(bytes(blob))
    blob[len(blob) // 2] ^= 0xFF  # a flipped byte breaks inflate or the tar before the end
    with pytest.raises(DigestMismatchError) as info:
        unpack(bytes(blob), dest, expected_blob_digest=expected, threads=threads)
    assert isinstance(info.value.__cause__, LayerError)


@pytest.mark.parametrize("threads", [False, True])
def test_blob_stream_errors_propagate_unchanged(dest, threads):
    class Failing(io.BytesIO):
        def read(self, n=-1):
            if self.tell() > 100000:
                raise ConnectionResetError("peer went away")
            return super().read(min(n, 65536) if n and n > 0 else 65536)

    with pytest.raises(ConnectionResetError):
        unpack_layer(Failing(gzip.compress(_sample_layer(), 0)), dest, threads=threads)


# -- worker threads ------------------------------------------------------------------------------

def _busy_layer() -> bytes:
    """Thousands of small files, with entries that must wait for files still being written."""
    tar = Tar()
    for i in range(40):
        tar.dir("d%02d" % i, mode=0o750 + i % 6)
    for i in range(2000):
        tar.add("d%02d/f%04d" % (i % 40, i), data=b"%d" % i * (i % 13), mode=0o600 + i % 0o100,
                mtime=MTIME + i, uid=i % 3, gid=i % 5)
        if i % 250 == 0:
            tar.add("d%02d/f%04d" % (i % 40, i), data=b"again %d" % i, mode=0o640)  # same name twice
            tar.add("d%02d/link%04d" % (i % 40, i), tarfile.LNKTYPE, linkname="d%02d/f%04d" % (i % 40, i))
            tar.add("d%02d/sym%04d" % (i % 40, i), data=b"a file first")
            tar.add("d%02d/sym%04d" % (i % 40, i), tarfile.SYMTYPE, linkname="f%04d" % i)
            if ROOT:  # a whiteout of a file of this layer keeps the file
                tar.add("d%02d/.wh.f%04d" % (i % 40, i))
    tar.add("big", data=os.urandom(3 << 20), mode=0o755)  # written by the main thread
    tar.add("big", data=b"small now")
    tar.add("hl-src", data=b"shared").add("hl-dst", tarfile.LNKTYPE, linkname="hl-src")
    tar.add("hl-src", data=b"replaced after the link")
    tar.add("d07", data=b"a file replaces a directory full of files", mode=0o444)
    tar.add("imp/x/y", data=b"y").add("imp/x", data=b"implicit directory replaced")
    tar.add("f2d", data=b"file").dir("f2d", mode=0o555).add("f2d/in", data=b"in")
    return tar.bytes()


def test_workers_give_the_same_tree_as_serial(tmp_path, monkeypatch):
    treediff = pytest.importorskip("harness.treediff")
    from ansible_collections.undock.oci.plugins.module_utils.storage import applier, filewriters
    layer = _busy_layer()
    trees = {}
    for label, workers, small in (("serial", 0, False), ("w2", 2, False), ("w3-tiny-queue", 3, True)):
        if small:  # force back-pressure: two jobs or 64 KiB in flight
            monkeypatch.setattr(applier, "_MAX_JOBS", 2)
            monkeypatch.setattr(filewriters, "_INFLIGHT_BYTES", 64 << 10)
        out = tmp_path / label
        out.mkdir(mode=0o700)
        result = unpack(layer, str(out), workers=workers)
        trees[label] = treediff.snapshot(str(out), mtimes=True)
        trees[label + "-result"] = result
    assert len(trees["serial"]) > 1900

    def implicit_dir_mtime(path, field, node_a, node_b):
        return field == "mtime" and path in ("/", "/imp")

    for label in ("w2", "w3-tiny-queue"):
        assert treediff.diff(trees["serial"], trees[label], names=("serial", label),
                             ignore=implicit_dir_mtime) == []
        assert trees[label + "-result"] == trees["serial-result"]
    out = str(tmp_path / "w2")
    assert open(os.path.join(out, "d07"), "rb").read().startswith(b"a file replaces")
    assert os.stat(os.path.join(out, "hl-dst")).st_nlink == 1
    assert open(os.path.join(out, "hl-dst"), "rb").read() == b"shared"
    assert os.path.samefile(os.path.join(out, "d10/f0250"), os.path.join(out, "d10/link0250"))
    assert open(os.path.join(out, "d10/f0250"), "rb").read() == b"again 250"
    assert os.path.islink(os.path.join(out, "d10/sym0250"))
    assert stat.S_IMODE(os.stat(os.path.join(out, "f2d")).st_mode) == 0o555


@pytest.mark.parametrize("workers", [0, 2])
def test_worker_errors_name_their_entry(dest, workers):
    layer = Tar()
    for i in range(50):
        layer.add("ok/f%d" % i, data=b"x")
    layer.add("bad-owner", data=b"x", pax_headers={"uid": str(1 << 40)})
    for i in range(50):
        layer.add("later/f%d" % i, data=b"x")
    with pytest.raises(LayerError, match="'bad-owner'.*out of range"):
        unpack(layer.bytes(), dest, workers=workers)
    remove_tree(dest)
    os.mkdir(dest, 0o700)
    # A regular file in a parent position, still being written when its child arrives.
    layer = Tar().add("p", data=b"p").add("p/child", data=b"c").bytes()
    with pytest.raises(LayerError, match="'p/child'.*not a directory"):
        unpack(layer, dest, workers=workers)
