# -*- coding: utf-8 -*-
"""File sources that are not files: no ``oci:``, ``oci-archive:`` or ``docker-archive:``
source can hang on a FIFO, a device or a socket planted where a file is expected.

Each case runs in a child process that is killed after ``DEADLINE`` seconds, so a hang
fails the test (instead of blocking the suite) and a refusal must name the file and
what it is. The child's address space is capped, so reading an endless device fails
there too instead of eating the machine's memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import resource
import socket
import tarfile
import tempfile

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.errors import UndockError
from ansible_collections.undock.oci.plugins.module_utils.common.fileutil import open_regular
from ansible_collections.undock.oci.plugins.module_utils.image.transports import copy_between

DEADLINE = 15
_MEMORY_CAP = 1 << 30


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _put(layout: str, data: bytes) -> dict:
    digest = _sha(data)
    with open(os.path.join(layout, "blobs", "sha256", digest[7:]), "wb") as handle:
        handle.write(data)
    return {"digest": digest, "size": len(data)}


def _layout(path: str) -> dict:
    """A one-layer OCI layout named ``x``; returns the blob paths by role."""
    os.makedirs(os.path.join(path, "blobs", "sha256"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("etc/hello")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    layer = buf.getvalue()
    layer_desc = dict(mediaType="application/vnd.oci.image.layer.v1.tar", **_put(path, layer))
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [_sha(layer)]}}).encode()
    config_desc = dict(mediaType="application/vnd.oci.image.config.v1+json", **_put(path, config))
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": config_desc, "layers": [layer_desc]}).encode()
    manifest_desc = dict(mediaType="application/vnd.oci.image.manifest.v1+json", **_put(path, manifest))
    manifest_desc["annotations"] = {"org.opencontainers.image.ref.name": "x"}
    with open(os.path.join(path, "index.json"), "w") as handle:
        json.dump({"schemaVersion": 2, "manifests": [manifest_desc]}, handle)
    with open(os.path.join(path, "oci-layout"), "w") as handle:
        json.dump({"imageLayoutVersion": "1.0.0"}, handle)

    def blob(desc):
        return os.path.join(path, "blobs", "sha256", desc["digest"][7:])
    return {"index.json": os.path.join(path, "index.json"), "oci-layout": os.path.join(path, "oci-layout"),
            "manifest": blob(manifest_desc), "config": blob(config_desc), "layer": blob(layer_desc)}


def _plant(path: str, kind: str) -> list:
    """Replace ``path`` by a FIFO, a symlink to /dev/zero or a unix socket; returns what to close."""
    if os.path.lexists(path):
        os.unlink(path)
    if kind == "fifo":
        os.mkfifo(path)
        return []
    if kind == "chardev":
        os.symlink("/dev/zero", path)
        return []
    # Bound at a short path (sun_path holds 108 bytes), then moved into place.
    short = tempfile.mkdtemp(prefix="s", dir=os.path.dirname(path))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    cwd = os.open(".", os.O_RDONLY)
    try:
        os.chdir(short)
        sock.bind("s")
    finally:
        os.fchdir(cwd)
        os.close(cwd)
    sock.listen(1)
    os.rename(os.path.join(short, "s"), path)
    os.rmdir(short)
    return [sock]


_WHAT = {"fifo": "FIFO", "chardev": "character device", "socket": "socket"}


def _address_space() -> int:
    """Bytes of address space this process already has (a fork inherits the parent's
    malloc arenas and mappings, which depend on what ran before in the session)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(conn, source: str, dest: str) -> None:
    # At most _MEMORY_CAP more than the child starts with: reading a FIFO to its end would take more.
    cap = _address_space() + _MEMORY_CAP
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        copy_between(source, dest)
        conn.send(("ok", ""))
    except UndockError as err:
        conn.send(("UndockError", str(err)))
    except BaseException as err:  # pylint: disable=broad-except
        conn.send((type(err).__name__, str(err)))


def _copy_in_child(source: str, dest: str):
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, source, dest), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(DEADLINE):
            pytest.fail("copy from %s hung for more than %d s" % (source, DEADLINE))
        return parent.recv()
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        parent.close()


@pytest.mark.parametrize("kind", sorted(_WHAT))
@pytest.mark.parametrize("role", ["index.json", "oci-layout", "manifest", "config", "layer"])
def test_oci_layout_file_that_is_not_a_file_is_refused(tmp_path, role, kind):
    paths = _layout(str(tmp_path / "src"))
    keep = _plant(paths[role], kind)
    try:
        outcome, message = _copy_in_child("oci:%s:x" % (tmp_path / "src"), "oci:%s:x" % (tmp_path / "dest"))
    finally:
        for sock in keep:
            sock.close()
    assert outcome == "UndockError", message
    assert _WHAT[kind] in message, message
    assert os.path.basename(paths[role]) in message, message


@pytest.mark.parametrize("kind", sorted(_WHAT))
@pytest.mark.parametrize("transport", ["oci-archive", "docker-archive"])
def test_archive_that_is_not_a_file_is_refused(tmp_path, transport, kind):
    archive = str(tmp_path / "image.tar")
    keep = _plant(archive, kind)
    try:
        outcome, message = _copy_in_child("%s:%s" % (transport, archive), "oci:%s:x" % (tmp_path / "dest"))
    finally:
        for sock in keep:
            sock.close()
    assert outcome == "UndockError", message
    assert _WHAT[kind] in message and archive in message, message


def test_open_regular_gives_a_blocking_descriptor(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"data")
    fd = open_regular(str(path))
    try:
        assert os.get_blocking(fd)
        assert os.read(fd, 10) == b"data"
    finally:
        os.close(fd)
    with pytest.raises(FileNotFoundError):
        open_regular(str(tmp_path / "missing"))
    with pytest.raises(UndockError, match="is a directory"):
        open_regular(str(tmp_path))
