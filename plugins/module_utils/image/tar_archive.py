# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tar archives of images (``oci-archive:``, ``docker-archive:``), read in place.

Reading never extracts. :class:`TarArchive` walks the headers once with the engine's one
tar reader (``storage.tarreader``, the reader layers go through: the same rules for
names, sizes, types and links), seeking over member data, and then serves members as
windows of the archive file read with ``os.pread``. On top of those rules an image
archive is strict about its format: member names must be canonical relative paths (no
absolute names, no ``.`` or empty components, no backslashes), appear once, and be
regular files or directories, plus symlinks where the caller tolerates them (they are
recorded, never followed). Nothing is ever written from a hostile archive, so there is
nothing to escape from. A gzip- or zstd-compressed archive is first decompressed into a
temporary file (as containers/image does).
"""

from __future__ import annotations

import io
import os
import tempfile

from ..common.errors import LayerError, UndockError
from ..common.fileutil import open_regular
from ..storage.compression import PLAIN, detect, open_decompressed
from ..storage.tarreader import DIR, KIND_NAMES, REG, SKIP, SYM, FileTarInput, TarEntry, TarReader

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Dict, Optional

MAX_JSON_MEMBER = 16 * 1024 * 1024      # manifest.json, index.json
CHUNK = 1024 * 1024
MAX_MEMBERS = 1000000
MAX_NAME = 4096
MAX_DEPTH = 256
MAX_HEADER = 1024 * 1024


class ArchiveError(UndockError):
    """An image archive is malformed, hostile, or does not hold what was asked for."""


def sniff_compression(head: bytes) -> Optional[str]:
    """``gzip``, ``zstd`` or None (plain) from the first bytes of a stream."""
    kind = detect(head)
    return None if kind == PLAIN else kind


def big_temp_dir(tmp_dir: Optional[str] = None) -> str:
    """Where large temporary files go: ``tmp_dir``, else $TMPDIR, else /var/tmp (as containers/image)."""
    for candidate in (tmp_dir, os.environ.get("TMPDIR"), "/var/tmp", tempfile.gettempdir()):
        if candidate and os.path.isdir(candidate):
            return candidate
    return tempfile.gettempdir()


def clean_member_name(name: str, where: str) -> str:
    """Normalise a member name (or a path manifest.json gives) inside an archive.

    Leading ``./`` and a trailing ``/`` are dropped; ``""`` is the archive root. Absolute
    names, ``..``, ``.`` or empty components, backslashes and NUL bytes are refused.
    """
    if not isinstance(name, str):
        raise ArchiveError("%s: member name %r is not a string" % (where, name))
    text = name
    while text.startswith("./"):
        text = text[2:]
    if text in ("", "."):
        return ""
    if "\x00" in text:
        raise ArchiveError("%s: member name %r contains a NUL byte" % (where, name))
    if text.startswith("/"):
        raise ArchiveError("%s: member name %r is absolute" % (where, name))
    if "\\" in text:
        raise ArchiveError("%s: member name %r contains a backslash" % (where, name))
    text = text.rstrip("/")
    parts = text.split("/")
    for part in parts:
        if part == "..":
            raise ArchiveError("%s: member name %r points outside the archive (..)" % (where, name))
        if part in ("", "."):
            raise ArchiveError("%s: member name %r is not in canonical form" % (where, name))
    return text


class TarMember:
    __slots__ = ("name", "kind", "offset", "size", "linkname")

    def __init__(self, name: str, kind: str, offset: int = 0, size: int = 0, linkname: str = "") -> None:
        self.name = name
        self.kind = kind          # "file", "dir" or "symlink"
        self.offset = offset      # of the data, for files
        self.size = size
        self.linkname = linkname


class _MemberRaw(io.RawIOBase):
    """A read-only, seekable window [start, start + size) of a file descriptor (pread)."""

    def __init__(self, fd: int, start: int, size: int):
        super().__init__()
        self._fd, self._start, self._size, self._pos = fd, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        data = os.pread(self._fd, want, self._start + self._pos)
        if not data:
            raise ArchiveError("archive member is truncated")
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError("invalid whence %r" % whence)
        if pos < 0:
            raise ValueError("negative seek position %d" % pos)
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos


class TarArchive:
    """An uncompressed tar read in place: validated member index, members as windows.

    ``allow_symlinks``: record symlink members (never followed; asking for one is an
    error) instead of refusing the archive. ``allowed``: a callable ``(name, kind)``
    that raises ArchiveError for names the format does not allow.
    """

    def __init__(self, path: str, what: str, tmp_dir: Optional[str] = None, allow_symlinks: bool = False,
                 allowed: Optional[Any] = None):
        self.path = path
        self.what = what
        self.members: Dict[str, TarMember] = {}
        self._temp: Optional[str] = None
        self._fd = -1
        try:
            fd = open_regular(path, what, ArchiveError)
        except FileNotFoundError:
            raise ArchiveError("%s: no such file" % what) from None
        except OSError as err:
            raise ArchiveError("%s: cannot open: %s" % (what, err.strerror or err)) from None
        try:
            head = os.pread(fd, 6, 0)
            if sniff_compression(head):
                plain_fd = self._decompress(fd, tmp_dir)
                os.close(fd)
                fd = plain_fd
            self._fd = fd
            self._size = os.fstat(fd).st_size
            self._index(allow_symlinks, allowed)
        except BaseException:
            os.close(fd)
            self._fd = -1
            self._drop_temp()
            raise

    def _decompress(self, fd: int, tmp_dir: Optional[str]) -> int:
        out_fd, self._temp = tempfile.mkstemp(prefix=".undock-archive-", dir=big_temp_dir(tmp_dir))
        with os.fdopen(fd, "rb", closefd=False) as src, os.fdopen(out_fd, "wb") as out:
            reader = open_decompressed(src)
            try:
                for chunk in iter(lambda: reader.read(CHUNK), b""):
                    out.write(chunk)
            except LayerError as err:
                raise ArchiveError("%s: %s" % (self.what, err))
            finally:
                reader.close()
        new_fd = os.open(self._temp, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        os.unlink(self._temp)   # the open descriptor keeps it; nothing to clean up later
        self._temp = None
        return new_fd

    def _index(self, allow_symlinks: bool, allowed: Optional[Any]) -> None:
        reader = TarReader(FileTarInput(self._fd, self._size), max_entries=MAX_MEMBERS, max_path=MAX_NAME,
                           max_depth=MAX_DEPTH, max_header_size=MAX_HEADER, error=ArchiveError,
                           subject="%s: member" % self.what, stream="%s: tar archive" % self.what,
                           root="the archive")
        for entry in reader:
            self._add(entry, allow_symlinks, allowed)
            if not reader.inp.skip(entry.size):
                raise ArchiveError("%s: member %r is truncated" % (self.what, entry.raw.decode("utf-8", "replace")))
            reader.inp.skip(entry.pad)

    def _add(self, entry: TarEntry, allow_symlinks: bool, allowed: Optional[Any]) -> None:
        raw = entry.raw.decode("utf-8", "surrogateescape")
        kind = entry.kind
        if kind == SKIP:
            return
        name = clean_member_name(raw, self.what)
        if kind == DIR:
            kind = "dir"
        elif kind == SYM:
            if not allow_symlinks:
                raise ArchiveError("%s: member %r is a symlink, which this format does not allow"
                                   % (self.what, raw))
            kind = "symlink"
        elif kind == REG:
            kind = "file"
        else:
            raise ArchiveError("%s: member %r is a %s; only regular files and directories are allowed"
                               % (self.what, raw, KIND_NAMES[kind]))
        if name == "" and kind != "dir":
            raise ArchiveError("%s: member %r has an empty name" % (self.what, raw))
        if allowed is not None:
            allowed(name, kind)
        previous = self.members.get(name)
        if previous is not None and not (previous.kind == "dir" and kind == "dir"):
            raise ArchiveError("%s: member %r appears more than once" % (self.what, name))
        self.members[name] = TarMember(name=name, kind=kind, offset=entry.offset,
                                       size=entry.size if kind == "file" else 0,
                                       linkname=entry.link.decode("utf-8", "surrogateescape"))

    # -- access --------------------------------------------------------------------------
    def file(self, name: str, referrer: str = "") -> TarMember:
        """The regular file member ``name`` (validated), or a clear error."""
        clean = clean_member_name(name, "%s%s" % (self.what, referrer))
        member = self.members.get(clean)
        if member is None:
            raise ArchiveError("%s: no member %r%s" % (self.what, clean, referrer))
        if member.kind == "symlink":
            raise ArchiveError("%s: member %r%s is a symlink; links are not followed"
                               % (self.what, clean, referrer))
        if member.kind != "file":
            raise ArchiveError("%s: member %r%s is not a regular file" % (self.what, clean, referrer))
        return member

    def open(self, member: TarMember) -> BinaryIO:
        return io.BufferedReader(_MemberRaw(self._fd, member.offset, member.size), CHUNK)  # type: ignore

    def read(self, member: TarMember, limit: int) -> bytes:
        if member.size > limit:
            raise ArchiveError("%s: member %r is %d bytes, more than the %d allowed"
                               % (self.what, member.name, member.size, limit))
        data = os.pread(self._fd, member.size, member.offset) if member.size else b""
        if len(data) != member.size:
            raise ArchiveError("%s: member %r is truncated" % (self.what, member.name))
        return data

    def head(self, member: TarMember, n: int = 6) -> bytes:
        return os.pread(self._fd, min(n, member.size), member.offset) if member.size else b""

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._drop_temp()

    def _drop_temp(self) -> None:
        if self._temp:
            try:
                os.unlink(self._temp)
            except OSError:
                pass
            self._temp = None
