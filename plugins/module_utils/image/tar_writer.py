# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing image archives: deterministic tars, replaced atomically and only when their bytes change."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import tempfile

from ..common.fileutil import fsync_dir
from .tar_archive import ArchiveError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Callable, Dict, Optional, Tuple

CHUNK = 1024 * 1024
BLOCK = 512
RECORD = 20 * BLOCK


class TarWriter:
    """A minimal, deterministic tar writer (PAX headers only where needed, mtime 0, root).

    Data is copied in 1 MiB chunks; the sha256 of everything written is kept in ``digest``.
    """

    def __init__(self, out: BinaryIO):
        self._out = out
        self._hash = hashlib.sha256()
        self._written = 0

    def _write(self, data: bytes) -> None:
        if data:
            self._out.write(data)
            self._hash.update(data)
            self._written += len(data)

    def _header(self, name: str, kind: bytes, size: int, mode: int, uid: int = 0, gid: int = 0, mtime: int = 0,
                linkname: str = "", devmajor: int = 0, devminor: int = 0,
                xattrs: Optional[Dict[str, bytes]] = None) -> None:
        """One header: no atime/ctime, no user or group names, PAX records (sorted) only for
        what ustar cannot hold and for extended attributes (``SCHILY.xattr.NAME``)."""
        info = tarfile.TarInfo(name)
        info.type = kind
        info.size = size
        info.mode = mode
        info.mtime = int(mtime)
        info.uid, info.gid = int(uid), int(gid)
        info.uname = info.gname = ""
        info.linkname = linkname
        info.devmajor, info.devminor = devmajor, devminor
        if xattrs:
            # surrogateescape: tarfile writes PAX values as utf-8, binary values as they are
            info.pax_headers = {"SCHILY.xattr." + key: value.decode("utf-8", "surrogateescape")
                                for key, value in sorted(xattrs.items())}
        self._write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def _pad(self, size: int) -> None:
        rest = size % BLOCK
        if rest:
            self._write(b"\0" * (BLOCK - rest))

    def add_dir(self, name: str, mode: int = 0o755) -> None:
        self._header(name.rstrip("/") + "/", tarfile.DIRTYPE, 0, mode)

    def add_bytes(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._header(name, tarfile.REGTYPE, len(data), mode)
        self._write(data)
        self._pad(len(data))

    def add_stream(self, name: str, size: int, stream: Any, mode: int = 0o644) -> None:
        """Copy exactly ``size`` bytes of ``stream``; fewer or more is an error."""
        self._header(name, tarfile.REGTYPE, size, mode)
        self._copy(name, size, stream)

    def _copy(self, name: str, size: int, stream: Any) -> None:
        left = size
        while left > 0:
            data = stream.read(min(CHUNK, left))
            if not data:
                raise ArchiveError("%s: source ended %d bytes early" % (name, left))
            self._write(data)
            left -= len(data)
        if stream.read(1):
            raise ArchiveError("%s: source is longer than its %d bytes" % (name, size))
        self._pad(size)

    def add_file(self, name: str, path: str, mode: int = 0o644) -> None:
        with open(path, "rb") as handle:
            self.add_stream(name, os.fstat(handle.fileno()).st_size, handle, mode)

    def add_entry(self, name: str, kind: bytes, *, mode: int, uid: int = 0, gid: int = 0, mtime: int = 0,
                  size: int = 0, stream: Any = None, linkname: str = "", devmajor: int = 0, devminor: int = 0,
                  xattrs: Optional[Dict[str, bytes]] = None) -> None:
        """Any entry with its owner, mtime and attributes (layers of a build): a regular file
        copies exactly ``size`` bytes of ``stream``; directories end in ``/``."""
        if kind == tarfile.DIRTYPE:
            name = name.rstrip("/") + "/"
        self._header(name, kind, size if kind == tarfile.REGTYPE else 0, mode, uid, gid, mtime, linkname,
                     devmajor, devminor, xattrs)
        if kind == tarfile.REGTYPE and size:
            self._copy(name, size, stream)

    def finish(self) -> str:
        """Write the end-of-archive blocks, padded to a 10 KiB record as tar does."""
        self._write(b"\0" * (2 * BLOCK))
        rest = self._written % RECORD
        if rest:
            self._write(b"\0" * (RECORD - rest))
        return "sha256:" + self._hash.hexdigest()


def file_digest(path: str) -> Optional[str]:
    try:
        handle = open(path, "rb")
    except OSError:
        return None
    digest = hashlib.sha256()
    with handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def replace_if_changed(path: str, temp: str, digest: str, mode: int = 0o644) -> bool:
    """Rename ``temp`` over ``path`` unless ``path`` already has exactly these bytes."""
    try:
        same_size = os.stat(path).st_size == os.stat(temp).st_size
    except OSError:
        same_size = False
    if same_size and file_digest(path) == digest:
        os.unlink(temp)
        return False
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, mode & ~umask)
    os.rename(temp, path)
    fsync_dir(os.path.dirname(path) or ".")
    return True


def temp_beside(path: str) -> Tuple[BinaryIO, str]:
    """A temp file in ``path``'s directory (so the final rename is atomic)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ArchiveError("cannot write %s: directory %s does not exist" % (path, directory))
    if os.path.isdir(path):
        raise ArchiveError("cannot write %s: it is a directory" % path)
    fd, temp = tempfile.mkstemp(prefix=".%s.tmp-" % os.path.basename(path), dir=directory)
    return os.fdopen(fd, "wb"), temp


def write_tar(path: str, fill: Callable[["TarWriter"], None]) -> bool:
    """Write a tar with ``fill(writer)`` to a temp file beside ``path``, make it durable,
    and put it in place only if its content differs. Returns True if ``path`` changed."""
    out, temp = temp_beside(path)
    try:
        with out:
            writer = TarWriter(out)
            fill(writer)
            digest = writer.finish()
            out.flush()
            os.fsync(out.fileno())
        return replace_if_changed(path, temp, digest)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def json_compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")
