# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one tar reader of the engine: layers (streamed) and image archives (read in place).

Iterating a ``TarReader`` parses one entry's headers (ustar, GNU and PAX, global PAX
included) and yields a ``TarEntry``; the caller then consumes exactly
``entry.size`` data bytes and ``entry.pad`` padding bytes from the ``TarInput``
(``skip_data`` does both) before asking for the next entry. The reader never
allocates for data: it works on the input's 1 MiB window, which the layer applier
also reads file contents from without a copy.

Safety rules, the same for every tar the engine reads
------------------------------------------------------
* Names: the ustar prefix, GNU ``L`` and PAX ``path`` are honoured; a NUL byte, more
  than ``max_path`` bytes or more than ``max_depth`` components is refused. The name
  is normalised (``TarEntry.name``): leading ``/`` stripped, ``.`` and empty
  components dropped, ``..`` resolved lexically; a ``..`` climbing above the root is
  refused. ``TarEntry.raw`` keeps the name as the archive gave it, for formats that
  want it canonical (image archives refuse absolute names, for example).
* Links: ``link_target`` normalises a hardlink target by the same rules (NUL,
  length, climbing out). Symlink targets are data, returned verbatim.
* Sizes: negative sizes, malformed numbers (octal or GNU base-256) and a bad header
  checksum are refused. Extended headers (PAX ``x``/``g``, GNU ``L``/``K``) of one
  entry are bounded by ``max_header_size`` *before they are read*, from the size in
  the 512-byte header (CVE-2022-2879 class); header-only types carry no data,
  whatever their size field says (as Go's archive/tar and Python's tarfile do), so
  parsers never disagree on where the next header is. At most ``max_entries``
  entries.
* Types: regular files, hardlinks, symlinks, character and block devices,
  directories and FIFOs are returned by kind (``REG``...``FIFO``); GNU dumpdirs are
  directories, volume labels are ``SKIP``; sparse files, multi-volume parts and
  unknown types are refused. What a format then allows is its own business (an
  image archive holds only files, directories and symlinks).

Errors are raised as ``error`` (``LayerError`` for layers), naming the entry as
``"<subject> %r: <reason>"``.
"""

from __future__ import annotations

import base64
import os
import zlib
from collections import namedtuple
from urllib.parse import unquote_to_bytes

from ..common.errors import LayerError

CHUNK = 1024 * 1024
BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
_NUM_CACHE = 8192
_SLOW_START = (b"/", b".")
_POSIX_MAGIC = b"ustar\x00"

# Entry kinds.
REG, LNK, SYM, CHR, BLK, DIR, FIFO, SKIP = range(8)
_TYPES = {
    b"0": REG, b"\x00": REG, b"7": REG,
    b"1": LNK, b"2": SYM, b"3": CHR, b"4": BLK, b"5": DIR, b"6": FIFO,
    b"D": DIR,   # GNU dumpdir: a directory followed by a listing, which is skipped
    b"V": SKIP,  # GNU volume label
}
KIND_NAMES = {REG: "regular file", LNK: "hard link", SYM: "symlink", CHR: "device node",
              BLK: "device node", DIR: "directory", FIFO: "FIFO", SKIP: "volume label"}
_new_tuple = tuple.__new__
_META_TYPES = frozenset((b"x", b"g", b"L", b"K"))
_TYPE_NAMES = {b"S": "GNU sparse file", b"M": "GNU multi-volume continuation",
               b"N": "old GNU long name"}


def display(name) -> str:
    """A tar name for a message: bytes decoded, undecodable bytes escaped."""
    return name.decode("utf-8", "backslashreplace") if isinstance(name, bytes) else name


class _Malformed(Exception):
    """Raised by the field parsers; ``TarReader`` turns it into its own error type."""

    def __init__(self, name, reason: str):
        super().__init__(reason)
        self.name = name
        self.reason = reason


def _bad(name, reason: str) -> _Malformed:
    return _Malformed(name, reason)


def _num(field: bytes, what: str, name: bytes = b"") -> int:
    """A numeric tar header field: octal (NUL/space padded) or GNU base-256."""
    if field[:1] and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        if field[0] == 0xFF:  # negative, two's complement over the whole field
            value = int.from_bytes(field, "big") - (1 << (8 * len(field)))
        elif field[0] != 0x80:
            raise _bad(name, "malformed base-256 %s field" % what)
        return value
    i = field.find(b"\x00")
    if i >= 0:
        field = field[:i]
    field = field.strip(b" ")
    if not field:
        return 0
    if field.translate(None, b"01234567"):
        raise _bad(name, "malformed %s field %r" % (what, field))
    return int(field, 8)


def _cached_num(cache: dict, field: bytes, what: str, name: bytes) -> int:
    value = _num(field, what, name)
    if len(cache) < _NUM_CACHE:
        cache[field] = value
    return value


def _cstr(field: bytes) -> bytes:
    i = field.find(b"\x00")
    return field if i < 0 else field[:i]


def _pax_int(value: bytes, key: bytes, name: bytes) -> int:
    if not value or value.translate(None, b"0123456789"):
        raise _bad(name, "malformed PAX %s value %r" % (display(key), value[:40]))
    return int(value)


def _pax_time_ns(value: bytes, name: bytes) -> int:
    """A PAX time (``[-]seconds[.fraction]``) in nanoseconds."""
    neg = value[:1] == b"-"
    if neg:
        value = value[1:]
    sec, dummy, frac = value.partition(b".")
    if not sec or sec.translate(None, b"0123456789") or frac.translate(None, b"0123456789"):
        raise _bad(name, "malformed PAX mtime %r" % value[:40])
    ns = int(sec) * 1000000000 + int((frac[:9] or b"0").ljust(9, b"0"))
    return -ns if neg else ns


def _parse_pax(data: bytes, name: bytes) -> dict:
    """PAX records ``"%d %s=%s\\n"`` into a dict of bytes -> bytes."""
    records = {}
    pos, end = 0, len(data)
    while pos < end:
        if data[pos] == 0:  # NUL padding after the last record
            if data[pos:].strip(b"\x00"):
                raise _bad(name, "malformed PAX header")
            break
        sp = data.find(b" ", pos, min(end, pos + 24))
        if sp <= pos:
            raise _bad(name, "malformed PAX record length")
        length = data[pos:sp]
        if length.translate(None, b"0123456789"):
            raise _bad(name, "malformed PAX record length")
        length = int(length)
        stop = pos + length
        if length <= sp - pos + 2 or stop > end or data[stop - 1] != 0x0A:
            raise _bad(name, "malformed PAX record")
        key, eq, value = data[sp + 1:stop - 1].partition(b"=")
        if not eq or not key:
            raise _bad(name, "malformed PAX record")
        records[key] = value
        pos = stop
    return records


def _checksum_ok(hdr: bytes) -> bool:
    stored = _num(hdr[148:156], "checksum")
    # Sum of all bytes with the checksum field counted as spaces.
    total = sum(hdr) - sum(hdr[148:156]) + 256
    if stored == total:
        return True
    # Historic writers summed signed chars.
    signed = total - 256 * sum(1 for b in hdr[:148] + hdr[156:] if b > 127)
    return stored == signed


class StreamError(Exception):
    """Carries an I/O error of the blob stream past the per-entry OSError handling."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


class NullDigester:
    """A digester that hashes nothing (the stream is hashed elsewhere)."""

    __slots__ = ()

    def update(self, data) -> None:
        pass


class TarInput:
    """A tar stream read in exact sizes through a window of up to ``CHUNK`` bytes.

    ``buf[pos:]`` is what is left of the window (``mv`` is a memoryview of it, for
    writes without a copy); ``base`` is the stream offset of ``buf[0]``. Every byte
    is handed to ``digester`` as it is read (the diff ID of a layer).
    """

    __slots__ = ("_reader", "_digester", "buf", "mv", "pos", "base")

    def __init__(self, reader, digester=None):
        self._reader = reader
        self._digester = digester if digester is not None else NullDigester()
        self.buf = b""
        self.mv = memoryview(b"")
        self.pos = 0
        self.base = 0

    def offset(self) -> int:
        """Stream offset of the next byte to be read."""
        return self.base + self.pos

    def _fill(self) -> int:
        self.base += len(self.buf)
        try:
            data = self._reader.read(CHUNK)
        except OSError as err:  # the blob stream failed: not the layer's fault
            raise StreamError(err) from err
        if data:
            self._digester.update(data)
        self.buf = data
        self.mv = memoryview(data)
        self.pos = 0
        return len(data)

    def read(self, n: int) -> bytes:
        """Exactly ``n`` bytes, or fewer only at the end of the stream."""
        pos = self.pos
        end = pos + n
        if end <= len(self.buf):
            self.pos = end
            return self.buf[pos:end]
        parts = [self.buf[pos:]]
        need = n - len(parts[0])
        self.pos = len(self.buf)
        while need > 0:
            got = self._fill()
            if not got:
                break
            take = need if need < got else got
            parts.append(self.buf[:take])
            self.pos = take
            need -= take
        return b"".join(parts)

    def skip(self, n: int) -> bool:
        while n > 0:
            avail = len(self.buf) - self.pos
            if avail <= 0:
                if not self._fill():
                    return False
                continue
            take = n if n < avail else avail
            self.pos += take
            n -= take
        return True

    def copy_to(self, fd: int, n: int) -> bool:
        """Write the next ``n`` bytes of the stream to ``fd``; False if it ends first."""
        write = os.write
        while n > 0:
            pos = self.pos
            avail = len(self.buf) - pos
            if avail <= 0:
                if not self._fill():
                    return False
                continue
            take = n if n < avail else avail
            view = self.mv[pos:pos + take]
            while view:
                done = write(fd, view)
                view = view[done:]
            self.pos = pos + take
            n -= take
        return True

    def drain(self) -> None:
        self.pos = len(self.buf)
        while self._fill():
            pass


class FileTarInput(TarInput):
    """A tar file read in place with ``pread``: skipping data seeks instead of reading it."""

    __slots__ = ("_fd", "_size", "_end", "_chunk")

    def __init__(self, fd: int, size: int, chunk: int = 64 * 1024):
        super().__init__(None)
        self._fd = fd
        self._size = size
        self._end = 0      # file offset of the end of the window
        self._chunk = chunk

    def _fill(self) -> int:
        self.base = self._end
        data = os.pread(self._fd, self._chunk, self._end)
        self._end += len(data)
        self.buf = data
        self.mv = memoryview(data)
        self.pos = 0
        return len(data)

    def skip(self, n: int) -> bool:
        avail = len(self.buf) - self.pos
        if n <= avail:
            self.pos += n
            return True
        target = self.base + self.pos + n
        if target > self._size:
            return False
        self.base = self._end = target
        self.buf = b""
        self.mv = memoryview(b"")
        self.pos = 0
        return True


class TarEntry(namedtuple("TarEntry", "raw name parent base kind size pad mode uid gid mtime link xattrs devmajor devminor offset typeflag")):
    """One tar entry, its extended headers applied (a tuple: the layer applier unpacks it).

    ``raw`` is the name as archived, ``name`` its normalised form (``""`` is the
    root), split into ``parent`` and ``base``; ``pad`` the padding after the data;
    ``mtime`` is in nanoseconds; ``link`` is the raw hardlink or symlink target;
    ``offset`` is the stream offset of the data.

    bytes: raw, name, parent, base, link, typeflag; int: kind, size, pad, mode, uid, gid, mtime,
    offset; Optional[dict]: xattrs; Optional[int]: devmajor, devminor.
    """

    __slots__ = ()


class TarReader:
    """Entries of the tar stream ``inp``, checked by the rules of the module docstring.

    ``error`` is the exception type raised for a malformed or hostile entry,
    ``subject`` names an entry in its messages (``"layer entry"``), ``stream`` names
    the stream (``"layer tar stream"``) and ``root`` what a ``..`` may not climb out of.
    """

    def __init__(self, inp: TarInput, *, max_entries: int, max_path: int, max_depth: int,
                 max_header_size: int, error: type = LayerError, subject: str = "layer entry",
                 stream: str = "layer tar stream", root: str = "the layer root"):
        self.inp = inp
        self.max_entries = max_entries
        self.max_path = max_path
        self.max_depth = max_depth
        self.max_header = max_header_size
        self.error = error
        self.subject = subject
        self.stream = stream
        self.root = root
        self.entries = 0
        self._nc = {}  # raw numeric header field -> value (modes, owners, mtimes repeat)
        self._global_pax = {}

    def bad(self, name, reason: str) -> Exception:
        """The error for entry ``name``."""
        return self.error("%s %r: %s" % (self.subject, display(name), reason))

    def __iter__(self):
        """The entries in archive order; each one's data must be consumed before the next."""
        try:
            inp = self.inp
            read = inp.read
            nc = self._nc
            max_header = self.max_header
            max_path = self.max_path
            max_depth = self.max_depth
            depth_check = 2 * max_depth - 1  # shorter names cannot be that deep
            clean = self.clean
            adler32 = zlib.adler32
            global_pax = self._global_pax
            while True:
                pax = {}
                longname = longlink = None
                meta_bytes = 0
                while True:
                    pos = inp.pos
                    if pos + BLOCK <= len(inp.buf):
                        hdr = inp.buf[pos:pos + BLOCK]
                        inp.pos = pos + BLOCK
                    else:
                        hdr = read(BLOCK)
                    if len(hdr) < BLOCK:
                        if not hdr and not pax and longname is None and longlink is None:
                            return  # end of stream at a header boundary without the zero blocks
                        raise self.error("%s is truncated in a header" % self.stream)
                    if hdr == ZERO_BLOCK:
                        second = read(BLOCK)
                        if second and second != ZERO_BLOCK:
                            raise self.error("%s has data after a single end-of-archive block" % self.stream)
                        if pax or longname is not None or longlink is not None:
                            raise self.error("%s ends after an extended header" % self.stream)
                        return
                    name = hdr[0:100].partition(b"\x00")[0]
                    # Checksum: the sum of all bytes, the checksum field counted as spaces.
                    field = hdr[148:156]
                    stored = nc.get(field)
                    if stored is None:
                        stored = _cached_num(nc, field, "checksum", name)
                    if hdr.isascii():
                        # All bytes < 128: their sum (< 65024) is below adler32's modulus, so
                        # adler32's low half is exactly 1 + sum, ten times faster than sum().
                        total = (adler32(hdr) & 0xFFFF) + 255 - sum(field)
                    else:
                        total = sum(hdr) + 256 - sum(field)
                    if stored != total and not _checksum_ok(hdr):
                        if not self.entries and inp.offset() == BLOCK:
                            raise self.error("%s is not a tar archive (bad header checksum)" % self.stream)
                        raise _bad(name, "bad tar header checksum")
                    typeflag = hdr[156:157]
                    field = hdr[124:136]
                    size = nc.get(field)
                    if size is None:
                        size = _cached_num(nc, field, "size", name)
                    if size < 0:
                        raise _bad(name, "negative size")

                    if typeflag in _META_TYPES:
                        meta_bytes += size
                        if meta_bytes > max_header:
                            raise _bad(name, "extended header (%s) of %d bytes exceeds the limit of %d "
                                             "bytes" % (typeflag.decode(), meta_bytes, max_header))
                        data = read(size)
                        if len(data) < size or not inp.skip(-size % BLOCK):
                            raise self.error("%s is truncated in an extended header" % self.stream)
                        if typeflag == b"x":
                            pax.update(_parse_pax(data, name))
                        elif typeflag == b"g":
                            global_pax.update(_parse_pax(data, name))
                            meta_bytes -= size
                            if sum(len(k) + len(v) for k, v in global_pax.items()) > max_header:
                                raise self.error("global PAX headers exceed the limit of %d bytes" % max_header)
                        else:
                            value = _cstr(data)
                            if data[len(value):].strip(b"\x00"):
                                raise _bad(value, "GNU long %s contains a NUL byte"
                                           % ("name" if typeflag == b"L" else "link name"))
                            if typeflag == b"L":
                                longname = value
                            else:
                                longlink = value
                        continue
                    break

                # -- a real entry: assemble its attributes --------------------------------
                self.entries += 1
                if self.entries > self.max_entries:
                    raise self.error("%s has more than %d entries (limit)" % (self.stream, self.max_entries))
                if hdr[345] and hdr[257:263] == _POSIX_MAGIC:
                    name = hdr[345:500].partition(b"\x00")[0] + b"/" + name
                if longname is not None:
                    name = longname
                link = longlink if longlink is not None else hdr[157:257].partition(b"\x00")[0]
                kind = _TYPES.get(typeflag)
                if kind is None:
                    raise _bad(name, "unsupported tar entry type %r (%s)"
                               % (typeflag.decode("latin-1"), _TYPE_NAMES.get(typeflag, "unknown")))
                if kind == REG and typeflag == b"\x00" and name.endswith(b"/"):
                    kind = DIR  # pre-POSIX directory
                field = hdr[100:124]
                owner = nc.get(field)
                if owner is None:
                    owner = (_num(field[0:8], "mode", name) & 0o7777, _num(field[8:16], "uid", name),
                             _num(field[16:24], "gid", name))
                    if len(nc) < _NUM_CACHE:
                        nc[field] = owner
                mode, uid, gid = owner
                field = hdr[136:148]
                mtime = nc.get(field)
                if mtime is None:
                    mtime = _cached_num(nc, field, "mtime", name)
                mtime *= 1000000000
                xattrs = devmajor = devminor = None
                if global_pax:
                    merged = dict(global_pax)
                    merged.update(pax)
                    pax = merged
                if pax:
                    if pax.get(b"path"):
                        name = pax[b"path"]
                        if b"\x00" in name:
                            raise _bad(name, "name contains a NUL byte")
                    for key, value in pax.items():
                        if key == b"path" or not value:
                            continue
                        if key == b"linkpath":
                            link = value
                        elif key == b"size":
                            size = _pax_int(value, key, name)
                        elif key == b"uid":
                            uid = _pax_int(value, key, name)
                        elif key == b"gid":
                            gid = _pax_int(value, key, name)
                        elif key == b"mtime":
                            mtime = _pax_time_ns(value, name)
                        elif key.startswith(b"SCHILY.xattr."):
                            if xattrs is None:
                                xattrs = {}
                            xattrs[key[13:]] = value
                        elif key.startswith(b"LIBARCHIVE.xattr."):
                            if xattrs is None:
                                xattrs = {}
                            try:
                                xattrs[unquote_to_bytes(key[17:])] = base64.b64decode(value)
                            except ValueError:
                                raise _bad(name, "malformed LIBARCHIVE.xattr record") from None
                        elif key.startswith(b"GNU.sparse."):
                            raise _bad(name, "sparse files are not supported")
                        elif key == b"SCHILY.devmajor":
                            devmajor = _pax_int(value, key, name)
                        elif key == b"SCHILY.devminor":
                            devminor = _pax_int(value, key, name)
                if uid < 0 or gid < 0:
                    raise _bad(name, "negative uid/gid")
                # Header-only types carry no data, whatever their size field says (as in
                # Go's archive/tar and Python's tarfile): never let parsers disagree.
                if kind != REG and typeflag != b"D":
                    size = 0

                # -- the name ---------------------------------------------------------------
                if len(name) > max_path:
                    raise _bad(name[:200] + b"...", "path longer than %d bytes" % max_path)
                # (str.find, not "in": much cheaper on bytes in CPython)
                if (name.startswith(_SLOW_START) or name.find(b"/.") >= 0
                        or name.find(b"//") >= 0 or name.endswith(b"/")):
                    rel = clean(name)
                else:  # already normal: no empty, "." or ".." component
                    rel = name
                    if len(name) >= depth_check and name.count(b"/") >= max_depth:
                        rel = clean(name)

                if kind == CHR or kind == BLK:
                    if devmajor is None:
                        devmajor = _num(hdr[329:337], "devmajor", name)
                    if devminor is None:
                        devminor = _num(hdr[337:345], "devminor", name)
                parent, dummy, base = rel.rpartition(b"/")
                # tuple.__new__, not TarEntry(...): the generated __new__ costs a Python call per entry.
                yield _new_tuple(TarEntry, (name, rel, parent, base, kind, size, -size % BLOCK, mode, uid, gid,
                                            mtime, link, xattrs, devmajor, devminor, inp.base + inp.pos, typeflag))
        except _Malformed as err:
            raise self.bad(err.name, err.reason) from None

    def clean(self, name: bytes) -> bytes:
        """Normalise an archive path: relative to the root, no ``.``/``..``/empty parts."""
        parts = []
        for comp in name.split(b"/"):
            if not comp or comp == b".":
                continue
            if comp == b"..":
                if not parts:
                    raise self.bad(name, "path points outside %s" % self.root)
                parts.pop()
            else:
                parts.append(comp)
        if len(parts) > self.max_depth:
            raise self.bad(name, "path deeper than %d components" % self.max_depth)
        return b"/".join(parts)

    def link_target(self, entry: TarEntry) -> bytes:
        """The normalised target of hardlink ``entry`` (``b""`` is the root)."""
        link = entry.link
        if len(link) > self.max_path:
            raise self.bad(entry.raw, "hardlink target longer than %d bytes" % self.max_path)
        if b"\x00" in link:
            raise self.bad(entry.raw, "hardlink target contains a NUL byte")
        try:
            return self.clean(link)
        except self.error:
            raise self.bad(entry.raw, "hardlink target %r points outside %s"
                           % (display(link), self.root)) from None

    def skip_data(self, entry: TarEntry) -> None:
        """Skip the entry's data, which must be all there, and its padding, which may be
        cut short only by the end of the stream: umoci 0.4.7 ``insert`` writes layers that
        end right after the last file's data (umoci#436), which Go's archive/tar, umoci
        and podman all accept. The next header read then finds the end of the archive."""
        if not self.inp.skip(entry.size):
            raise self.bad(entry.raw, "truncated data")
        if entry.pad:
            self.inp.skip(entry.pad)
