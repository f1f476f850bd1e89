# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply one OCI/Docker layer into a directory, in a single streaming pass.

``unpack_layer`` reads the (compressed) blob once: the raw bytes are hashed (blob
digest), decompressed, hashed again (diff ID), parsed as tar by our own header
reader and applied entry by entry with plain ``os`` calls. The layer is never held
in memory: at most one decompressed chunk (1 MiB; three with ``threads``), the
extended headers of one entry and up to 8 MiB of small files queued for ``workers``.

Contract with the caller (the store)
------------------------------------
* ``dest`` is a fresh, empty directory that only this call writes to (a temp dir
  inside the store, which must be mode 0700). On success the caller renames it into
  place; on any exception the caller deletes it (``remove_tree``) and keeps nothing:
  content is written *before* the digests can be checked, so a failed unpack leaves
  untrusted bytes behind in ``dest``.
* Each layer gets its own directory and is later used as an overlayfs lower dir, so
  whiteouts are stored in overlay's native form, like containers/storage does:
  ``.wh.NAME`` becomes a character device 0/0 called NAME, ``.wh..wh..opq`` becomes
  the xattr ``trusted.overlay.opaque=y`` on its directory.
* Device nodes, setuid/setgid files and file capabilities are reproduced (running
  as root), because the image needs them. They are harmless only if nobody else can
  reach them: keep the store at 0700 and mount layers with ``nodev`` where possible.
  As non-root, ownership is not changed (chown is skipped) and device nodes and
  whiteouts fail with ``LayerError``.

Path safety (what is guaranteed)
--------------------------------
* Every name is normalised here: leading ``/`` are stripped (names are relative to
  the layer root, as in the image-spec), ``.`` and empty components dropped, ``..``
  resolved lexically; a ``..`` that would climb above the root, a NUL byte, a path
  longer than ``max_path`` bytes or deeper than ``max_depth`` components is a
  ``LayerError`` naming the entry. The kernel never sees a ``..`` from a layer.
* Parent directories are opened one component at a time with
  ``O_DIRECTORY|O_NOFOLLOW`` relative to the parent's descriptor, starting from a
  descriptor of ``dest``; every object is then created relative to its parent's
  descriptor (``openat``/``mkdirat``/``symlinkat``/``mknodat``/``linkat``). A
  symlink (or any non-directory) in a parent position is refused with
  ``LayerError`` (it is never followed, and never silently replaced). The final
  component is created with ``O_CREAT|O_EXCL|O_NOFOLLOW`` (or the ``*at`` call that
  fails on an existing name); an existing non-directory is unlinked and recreated,
  an existing directory is kept when the entry is a directory (its attributes are
  replaced) and removed recursively, without following symlinks, otherwise.
  Descriptors of directories are cached per layer and dropped when an entry
  replaces the directory. Symlink targets are stored verbatim and never followed.
* Hardlink targets are normalised the same way, must already exist in this layer
  and are reached without following symlinks in any parent position. A hardlink to
  a symlink links the symlink itself (``linkat`` without ``AT_SYMLINK_FOLLOW``),
  which is what the archive recorded; it never reaches what the symlink points to.
  A target that escapes the root, or that does not exist in this layer (overlayfs
  cannot link across layers), is a ``LayerError`` naming the entry.
* Because a layer is applied into its own empty directory, a symlink left by a
  lower layer (``lib -> /outside``) does not exist here: a later ``lib/evil`` makes
  a real directory ``lib`` inside this layer's directory. Two-step escapes are
  contained by construction.
* What is *not* defended here: another process modifying ``dest`` while we run
  (the store's 0700 directory and its lock are the defence), and what the kernel
  does with the result at run time (overlay options, ``nodev``, runtime checks).

Errors
------
``LayerError`` (naming the entry) for anything wrong with the layer;
``DigestMismatchError`` when the blob is not the expected one (also when damage in
transit made it look malformed); ``StoreError`` for host failures while writing
(ENOSPC, EDQUOT, EIO, EROFS, EMFILE...), which say nothing about the layer.

Whiteouts
---------
``.wh.NAME`` with NAME empty, ``.`` or ``..`` is refused. ``.wh..wh..opq`` marks its
directory opaque; the aufs meta entries ``.wh..wh.plnk``, ``.wh..wh.aufs`` and
``.wh..wh.orph`` (and anything below them) are implementation-specific and skipped;
any other ``.wh..wh.*`` name is refused, and so is any path whose *directory* part
has a component starting with ``.wh.`` (no such directory can exist), and any
hardlink whose target has such a component (so old aufs-exported layers that link
into ``.wh..wh.plnk`` fail cleanly instead of half-working). Per the spec a
whiteout only hides lower layers, never entries of its own layer, whatever the
order: a whiteout for a name this layer already created keeps it (and makes it
opaque if it is a directory, so the lower directory's content stays hidden); an
entry arriving after the whiteout of its name replaces the 0/0 device (a directory
replacing it is made opaque). A plain whiteout inside an opaque directory is
redundant and stored as is. ``trusted.overlay.*``/``user.overlay.*`` xattrs found in
the archive itself are dropped: only whiteout entries may set overlay metadata.

Limits
------
``max_size`` bounds the decompressed stream (bomb guard, enforced while
decompressing, before the bytes are used) and, with some slack, the compressed one.
``max_entries`` bounds the number of tar entries plus implicitly created
directories. ``max_header_size`` bounds the extended headers (PAX ``x``/``g``, GNU
``L``/``K``) of one entry *before they are read*: their size field is checked in the
raw 512-byte header block, so an entry claiming a multi-gigabyte PAX header or long
name is refused without allocating anything (CVE-2022-2879 class). Memory use is
therefore bounded by roughly one decompression chunk + ``max_header_size`` + the
directory bookkeeping: modes and mtimes of directories are applied at the end, at
about 200 bytes per directory entry (so up to ~200 MB for a hostile layer of
``max_entries`` directories at the default; lower ``max_entries`` to bound it). Sparse files
(GNU type ``S``, ``GNU.sparse.*``) are refused, so disk use never exceeds
``max_size`` plus per-inode overhead.

Speed
-----
The tar reader is ours (no ``tarfile``: its streaming mode keeps every member in a
list and reads PAX headers of any size). Per regular file the work is: one header
parse, ``openat``, ``write`` from the decompression buffer (no copy for large
files), ``fchown`` (skipped for 0:0 as root), ``fchmod``, ``futimens``, ``close``.
Directory modes and mtimes are applied at the end, after their content. A plain
tar is hashed once (its blob digest is its diff ID). On ext4 most of the time is
spent in the kernel creating files (inode allocation), so ``workers`` threads
(``DEFAULT_WORKERS``) create, fill and finish regular files of up to 1 MiB, from a
``dup`` of the parent's descriptor resolved by the main thread, which does every
other operation in archive order and waits for pending files of a name before
touching that name again (details in ``_FileWriters``); the data handed to them is
capped at 8 MiB. ``workers=0`` does everything in the main thread. ``threads=True`` moves reading,
decompression and hashing to a helper thread (they release the GIL), which can
overlap them with extraction on an idle multi-core host; it is off by default
because on a busy 2-core machine it measured no better.
"""

from __future__ import annotations

import base64
import collections
import errno
import os
import queue
import stat
import threading
import zlib
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from ..model.digest import Digester
from ..common.errors import DigestMismatchError, LayerError, StoreError
from . import compression

DEFAULT_MAX_SIZE = compression.DEFAULT_MAX_SIZE
DEFAULT_MAX_ENTRIES = 1000000
DEFAULT_MAX_PATH = 4096
DEFAULT_MAX_DEPTH = 256
DEFAULT_MAX_HEADER_SIZE = 1024 * 1024

_CHUNK = 1024 * 1024
_NUM_CACHE = 8192
_PREFETCH = 2


def _fd_cache_size() -> int:
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, ValueError, OSError):
        return 128
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(32, min(1024, soft // 8))


_FD_CACHE = _fd_cache_size()

#: Worker threads that create and fill small regular files while the main thread goes
#: on parsing (see _FileWriters); 0 does everything in the main thread.
DEFAULT_WORKERS = 2
_JOB_MAX = 1024 * 1024          # larger files are written by the main thread
_JOB_OVERHEAD = 512             # bytes counted per queued job besides its data
_INFLIGHT_BYTES = 8 * 1024 * 1024
_MAX_JOBS = max(8, min(256, _FD_CACHE))  # each queued job holds one open descriptor
_BLOCK = 512
_ZERO_BLOCK = bytes(_BLOCK)

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

_OPAQUE_XATTR = b"trusted.overlay.opaque"
_WH = b".wh."
_SLOW_START = (b"/", b".")
_WH_META = b".wh..wh."
_WH_OPQ = b".wh..wh..opq"
# aufs-internal meta entries (hardlink dir, aufs bookkeeping, orphans): skipped.
_WH_AUFS_META = frozenset((b".wh..wh.plnk", b".wh..wh.aufs", b".wh..wh.orph"))

_POSIX_MAGIC = b"ustar\x00"

# Entry kinds.
_REG, _LNK, _SYM, _CHR, _BLK, _DIR, _FIFO, _SKIP = range(8)
_TYPES = {
    b"0": _REG, b"\x00": _REG, b"7": _REG,
    b"1": _LNK, b"2": _SYM, b"3": _CHR, b"4": _BLK, b"5": _DIR, b"6": _FIFO,
    b"D": _DIR,   # GNU dumpdir: a directory followed by a listing, which is skipped
    b"V": _SKIP,  # GNU volume label
}
_META_TYPES = frozenset((b"x", b"g", b"L", b"K"))
_TYPE_NAMES = {b"S": "GNU sparse file", b"M": "GNU multi-volume continuation",
               b"N": "old GNU long name"}


@dataclass(frozen=True)
class UnpackResult:
    """What was unpacked: digests of the blob and of the tar stream, and counts."""
    blob_digest: str
    diff_id: str
    size: int          # bytes of the uncompressed tar stream
    entries: int       # tar entries applied (whiteouts included, meta headers not)
    blob_size: int = 0  # bytes of the compressed blob
    compression: str = compression.PLAIN


def _display(name: bytes) -> str:
    return name.decode("utf-8", "backslashreplace")


def _bad(name, reason: str) -> LayerError:
    if isinstance(name, bytes):
        name = _display(name)
    return LayerError("layer entry %r: %s" % (name, reason))


# Failures of the host, not of the layer: reported as StoreError so that callers do
# not mistake a full disk for a hostile image.
_HOST_ERRNOS = frozenset((errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EMFILE,
                          errno.ENFILE, errno.ENOMEM))


def _os_error(name, err: OSError) -> Exception:
    if err.errno in _HOST_ERRNOS:
        return StoreError("cannot write layer entry %r: %s"
                          % (_display(name) if isinstance(name, bytes) else name, err.strerror))
    return _bad(name, err.strerror or str(err))


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
        raise _bad(name, "malformed PAX %s value %r" % (_display(key), value[:40]))
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


def _rmtree_at(parent_fd: int, name, root: bool = True) -> None:
    """Remove ``name`` (relative to ``parent_fd``) and everything below it.

    Iterative, descriptor-based, never follows symlinks; directories that deny
    access (mode 000) are made accessible first. Depth is bounded only by the
    number of descriptors the process may open.
    """
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=parent_fd)
        return
    stack = [(parent_fd, name, _open_for_removal(parent_fd, name, root))]
    try:
        while stack:
            pfd, dname, fd = stack[-1]
            child = None
            with os.scandir(fd) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        child = entry.name
                        break
                    try:
                        os.unlink(entry.name, dir_fd=fd)
                    except FileNotFoundError:
                        pass
            if child is not None:
                stack.append((fd, child, _open_for_removal(fd, child, root)))
                continue
            stack.pop()
            os.close(fd)
            os.rmdir(dname, dir_fd=pfd)
    finally:
        for _pfd, _dname, fd in stack:
            os.close(fd)


def _open_for_removal(pfd: int, name, root: bool) -> int:
    try:
        fd = os.open(name, _O_DIR, dir_fd=pfd)
    except PermissionError:
        os.chmod(name, 0o700, dir_fd=pfd)
        fd = os.open(name, _O_DIR, dir_fd=pfd)
    if not root:
        os.fchmod(fd, 0o700)  # we need write and search permission to empty it
    return fd


def remove_tree(path: str) -> None:
    """Remove ``path`` (a file, a symlink or a whole tree) without following symlinks.

    Handles directories with restrictive modes (0000) and missing paths. Used by
    callers to discard a failed unpack.
    """
    path = os.path.abspath(path)
    parent, name = os.path.split(path)
    if not name:
        raise ValueError("refusing to remove %r" % path)
    pfd = os.open(parent or "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _rmtree_at(pfd, name, os.geteuid() == 0)
    finally:
        os.close(pfd)


class _NonDirectoryParent(LayerError):
    """A path's parent is a regular file (or other non-directory, non-symlink) of this layer."""


def _skip_entry(inp, name: bytes, size: int, pad: int) -> None:
    """Skip an entry's data, which must be all there, and its padding, which may be cut
    short only by the end of the stream: umoci 0.4.7 ``insert`` writes layers that end
    right after the last file's data (umoci#436), which Go's archive/tar, umoci and
    podman all accept. The next header read then finds the end of the archive."""
    if not inp.skip(size):
        raise _bad(name, "truncated data")
    if pad:
        inp.skip(pad)


def _write_all(fd: int, view) -> None:
    while view:
        view = view[os.write(fd, view):]


class _Prefetcher:
    """Runs read + decompress + hash in a thread, handing 1 MiB chunks to the unpacker.

    zlib/isal inflate, zstd and hashlib release the GIL on large buffers, so on a
    multi-core machine decompression and hashing overlap with extraction. At most
    ``_PREFETCH`` chunks wait in the queue, so memory stays bounded.
    """

    def __init__(self, reader, digester):
        self._reader = reader
        self._digester = digester
        self._queue = queue.Queue(maxsize=_PREFETCH)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, name="undock-layer-prefetch",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._reader.read(_CHUNK)
                if data:
                    self._digester.update(data)
                self._put(data)
                if not data:
                    return
        except BaseException as err:  # pylint: disable=broad-except
            self._put(err)

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def read(self, n: int = _CHUNK) -> bytes:
        if self._done:
            return b""
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._done = True
            raise item
        if not item:
            self._done = True
        return item

    def close(self) -> None:
        """Stop the thread and wait for it (it may finish one read first)."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(0.05)


class _NullDigester:
    __slots__ = ()

    def update(self, data) -> None:
        pass


class _HashingReader:
    """Hashes (and counts) every byte read from the raw blob."""

    __slots__ = ("_stream", "_digester", "size", "limit")

    def __init__(self, stream, digester: Digester, limit: int | None):
        self._stream = stream
        self._digester = digester
        self.size = 0
        self.limit = limit

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n if n is not None and n >= 0 else _CHUNK)
        if data:
            self._digester.update(data)
            self.size += len(data)
            if self.limit is not None and self.size > self.limit:
                raise LayerError("compressed layer exceeds the size limit of %d bytes" % self.limit)
        return data


class _StreamError(Exception):
    """Carries an I/O error of the blob stream past the per-entry OSError handling."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


class _Input:
    """The decompressed tar stream, hashed as it is produced, read in exact sizes."""

    __slots__ = ("_reader", "_digester", "buf", "mv", "pos")

    def __init__(self, reader, digester: Digester):
        self._reader = reader
        self._digester = digester
        self.buf = b""
        self.mv = memoryview(b"")
        self.pos = 0

    def _fill(self) -> int:
        try:
            data = self._reader.read(_CHUNK)
        except OSError as err:  # the blob stream failed: not the layer's fault
            raise _StreamError(err) from err
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


class _FileWriters:
    """Worker threads that create and fill small regular files, in parallel with the main thread.

    The main thread parses the stream in order, resolves and creates the parent
    directories (``dirfd``: component by component, ``O_NOFOLLOW``) and reads the
    file's data (a copy, at most ``_JOB_MAX`` bytes). A job is a ``dup`` of the
    parent's descriptor (so evicting or dropping cached descriptors never closes one
    a job uses), the base name, the data and the attributes; the worker does
    ``openat(O_CREAT|O_EXCL|O_NOFOLLOW)``, ``write``, ``fchown``, ``fchmod``,
    ``futimens``, ``close``, all of which release the GIL. An existing non-directory
    of that name (which only an already finished operation can have made) is
    unlinked, as ``_make_room`` would; a name that may be a directory is never
    handed to a worker.

    Ordering: ``pending`` counts the queued jobs per name. Before the main thread
    touches a name with a pending job (any entry of that name, a hardlink to it, a
    whiteout of it, a missing directory component of that name) it waits for that
    name (``wait_name``); before removing a directory tree it waits for all jobs.
    Queued data is bounded by ``_INFLIGHT_BYTES`` and descriptors by ``_MAX_JOBS``.
    The first error (named after its entry) is kept and raised by the main thread
    at its next submission or at ``finish``.
    """

    def __init__(self, count: int, root: bool, skip_zero_chown: bool):
        self._count = count
        self._root = root
        self._skip_zero_chown = skip_zero_chown
        lock = threading.Lock()
        self._work = threading.Condition(lock)
        self._space = threading.Condition(lock)
        self._jobs = collections.deque()
        self._bytes = 0
        self._closing = False
        self._abort = False
        self._threads = []
        self.pending = {}
        self.error = None

    def submit(self, pfd: int, rel: bytes, base: bytes, name: bytes, data: bytes, mode: int,
               uid: int, gid: int, mtime: int) -> None:
        """Queue the creation of ``base`` in the directory ``pfd`` (which is dup'ed)."""
        cost = len(data) + _JOB_OVERHEAD
        pending = self.pending
        with self._space:
            while pending and self.error is None and (
                    len(self._jobs) >= _MAX_JOBS or self._bytes + cost > _INFLIGHT_BYTES):
                self._space.wait()
            error = self.error
            if error is None:
                fd = os.dup(pfd)
                self._jobs.append((fd, rel, base, name, data, mode, uid, gid, mtime))
                pending[rel] = pending.get(rel, 0) + 1
                self._bytes += cost
                self._work.notify()
        if error is not None:
            raise error
        if not self._threads:
            for dummy in range(self._count):
                thread = threading.Thread(target=self._run, name="undock-layer-writer", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _run(self) -> None:
        jobs = self._jobs
        pending = self.pending
        while True:
            with self._work:
                while not jobs and not self._closing:
                    self._work.wait()
                if not jobs:
                    return
                job = jobs.popleft()
                skip = self._abort or self.error is not None
            pfd, rel, name, data = job[0], job[1], job[3], job[4]
            error = None
            try:
                try:
                    if not skip:
                        self._create(job)
                finally:
                    os.close(pfd)
            except OSError as err:
                error = _os_error(name, err)
            except (OverflowError, ValueError) as err:
                error = _bad(name, str(err))
            except Exception as err:  # pylint: disable=broad-except
                error = err
            with self._space:
                count = pending[rel] - 1
                if count:
                    pending[rel] = count
                else:
                    del pending[rel]
                self._bytes -= len(data) + _JOB_OVERHEAD
                if error is not None and self.error is None:
                    self.error = error
                self._space.notify_all()

    def _create(self, job) -> None:
        pfd, dummy, base, name, data, mode, uid, gid, mtime = job
        try:
            fd = os.open(base, _O_FILE, 0o600, dir_fd=pfd)
        except FileExistsError:
            os.unlink(base, dir_fd=pfd)  # a non-directory: the main thread keeps directories
            fd = os.open(base, _O_FILE, 0o600, dir_fd=pfd)
        try:
            if data:
                done = os.write(fd, data)
                if done < len(data):
                    _write_all(fd, memoryview(data)[done:])
            if uid or gid or not self._skip_zero_chown:
                try:
                    os.fchown(fd, uid, gid)
                except PermissionError:
                    if self._root:
                        raise
                except OverflowError:
                    raise _bad(name, "uid/gid %d:%d out of range" % (uid, gid)) from None
            os.fchmod(fd, mode)
            os.utime(fd, ns=(mtime, mtime))
        finally:
            os.close(fd)

    def wait_name(self, rel: bytes) -> None:
        """Wait until no job for ``rel`` is queued or running."""
        pending = self.pending
        with self._space:
            while rel in pending:
                self._space.wait()

    def wait(self) -> None:
        """Wait until every queued job is done (or skipped after an error)."""
        pending = self.pending
        with self._space:
            while pending:
                self._space.wait()

    def finish(self) -> None:
        """Wait for every job; raise the first error of a worker."""
        self.wait()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Stop the workers (jobs still queued are dropped) and join them."""
        with self._work:
            self._closing = True
            self._abort = True
            self._work.notify_all()
        for thread in self._threads:
            thread.join()
        self._threads = []
        while self._jobs:  # no worker ever started
            os.close(self._jobs.popleft()[0])
        self.pending.clear()


class _Entry:
    """Attributes of one tar entry (after PAX/GNU overrides)."""

    __slots__ = ("raw", "kind", "size", "mode", "uid", "gid", "mtime", "link",
                 "major", "minor", "xattrs")


class _Unpacker:
    def __init__(self, dest: str, max_entries: int, max_path: int, max_depth: int,
                 max_header_size: int, workers: int = 0):
        self.workers = workers
        self.writers = None
        self.made_dirs = set()  # directories created implicitly while workers run
        self.max_entries = max_entries
        self.max_path = max_path
        self.max_depth = max_depth
        self.max_header = max_header_size
        self.root = os.geteuid() == 0
        self.rootfd = os.open(dest, _O_DIR)
        st = os.fstat(self.rootfd)
        # As root, new files are already 0:0 unless the root dir passes its group on.
        self.skip_zero_chown = self.root and os.getegid() == 0 and not st.st_mode & stat.S_ISGID
        self.fds = {b"": self.rootfd}
        self.pending_dirs = {}
        self.inodes = 0
        self.entries = 0
        self.name = b""

    # -- descriptors of parent directories ---------------------------------------

    def close(self) -> None:
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = {}

    def _trim(self) -> None:
        fds = self.fds
        drop = [k for i, k in enumerate(fds) if k and i < len(fds) // 2]
        for key in drop:
            os.close(fds.pop(key))

    def _forget(self, rel: bytes) -> None:
        """Drop cached descriptors of ``rel`` and below (it is being removed)."""
        prefix = rel + b"/"
        for key in [k for k in self.fds if k == rel or k.startswith(prefix)]:
            os.close(self.fds.pop(key))

    def dirfd(self, rel: bytes, create: bool = True) -> int:
        """Descriptor of directory ``rel`` (normalised, relative to the root).

        Opened component by component with O_NOFOLLOW from the nearest cached
        ancestor; missing components are created (``create``) as 0755 root-owned
        directories, or raise FileNotFoundError. A symlink or non-directory on the
        way is a LayerError.
        """
        fds = self.fds
        fd = fds.get(rel)
        if fd is not None:
            return fd
        todo = []
        head = rel
        while True:
            head, dummy, tail = head.rpartition(b"/")
            todo.append(tail)
            fd = fds.get(head)
            if fd is not None:
                break
        for comp in reversed(todo):
            path = head + b"/" + comp if head else comp
            try:
                fd = os.open(comp, _O_DIR, dir_fd=fd)
            except FileNotFoundError:
                writers = self.writers
                if writers is not None and path in writers.pending:
                    # A file of that name is still being created: wait, then see it as
                    # the serial order would.
                    writers.wait_name(path)
                    return self.dirfd(rel, create)
                if not create:
                    raise
                self._count_inode()
                if writers is not None:
                    self.made_dirs.add(path)
                os.mkdir(comp, 0o755, dir_fd=fd)
                fd = os.open(comp, _O_DIR, dir_fd=fd)
                os.fchmod(fd, 0o755)
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    kind = LayerError
                    try:
                        if not stat.S_ISLNK(os.stat(comp, dir_fd=fd, follow_symlinks=False).st_mode):
                            kind = _NonDirectoryParent  # a file of this layer, not a symlink
                    except OSError:
                        pass
                    raise kind("layer entry %r: parent %r is a symlink or not a directory; "
                               "refusing to write through it" % (_display(self.name), _display(path))) from None
                raise
            fds[path] = fd
            head = path
        return fd

    def _count_inode(self) -> None:
        self.inodes += 1
        if self.inodes > self.max_entries:
            raise LayerError("layer has more than %d entries (limit)" % self.max_entries)

    def _make_room(self, pfd: int, base: bytes, rel: bytes) -> None:
        """Remove the existing ``base`` so that a new entry can take its place."""
        st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            if self.writers is not None:
                self.writers.wait()  # jobs may still be creating files below it
            self._forget(rel)
            self.pending_dirs.pop(rel, None)
            _rmtree_at(pfd, base, self.root)
        else:
            os.unlink(base, dir_fd=pfd)

    # -- attributes --------------------------------------------------------------

    def _chown(self, target, uid: int, gid: int, pfd: int | None = None) -> None:
        if self.skip_zero_chown and not uid and not gid:
            return
        try:
            if pfd is None:
                os.fchown(target, uid, gid)
            else:
                os.chown(target, uid, gid, dir_fd=pfd, follow_symlinks=False)
        except PermissionError:
            if self.root:
                raise
        except OverflowError:
            raise _bad(self.name, "uid/gid %d:%d out of range" % (uid, gid)) from None

    def _xattrs(self, target, xattrs: dict, nofollow: bool) -> None:
        for key, value in xattrs.items():
            if key.startswith(b"trusted.overlay.") or key.startswith(b"user.overlay."):
                continue
            try:
                if nofollow:
                    os.setxattr(target, key, value, follow_symlinks=False)
                else:
                    os.setxattr(target, key, value)
            except ValueError:
                raise _bad(self.name, "invalid xattr name %r" % _display(key)) from None
            except OSError as err:
                if err.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
                    continue  # the filesystem has no such namespace
                if err.errno == errno.EPERM and (nofollow or not self.root):
                    continue  # e.g. user.* on a symlink or device
                raise _bad(self.name, "cannot set xattr %r: %s"
                           % (_display(key), err.strerror)) from None

    @staticmethod
    def _proc_path(pfd: int, base: bytes) -> bytes:
        return b"/proc/self/fd/%d/%s" % (pfd, base)

    def _set_opaque(self, fd: int) -> None:
        try:
            os.setxattr(fd, _OPAQUE_XATTR, b"y")
        except OSError as err:
            raise _bad(self.name, "cannot mark directory opaque (%s); overlay whiteouts need "
                                  "root and a filesystem with trusted xattrs" % err.strerror) from None

    # -- the entry loop ----------------------------------------------------------

    def run(self, inp: _Input) -> int:
        if self.workers <= 0:
            return self._run(inp)
        writers = self.writers = _FileWriters(self.workers, self.root, self.skip_zero_chown)
        try:
            try:
                applied = self._run(inp)
            except _StreamError:
                raise
            except Exception:
                # An earlier entry's failure in a worker comes first, as it would serially.
                writers.wait()
                if writers.error is not None:
                    raise writers.error from None
                raise
            writers.finish()
        finally:
            writers.close()
            self.writers = None
        return applied

    def _run(self, inp: _Input) -> int:
        read = inp.read
        fds = self.fds
        writers = self.writers
        pending = writers.pending if writers is not None else {}
        pending_dirs = self.pending_dirs
        made_dirs = self.made_dirs
        nc = {}  # raw numeric header field -> value (modes, owners, mtimes repeat)
        adler32 = zlib.adler32
        max_header = self.max_header
        max_path = self.max_path
        depth_check = 2 * self.max_depth - 1  # shorter names cannot be that deep
        applied = 0
        pax = {}
        global_pax = {}
        longname = longlink = None
        meta_bytes = 0
        while True:
            pos = inp.pos
            if pos + _BLOCK <= len(inp.buf):
                hdr = inp.buf[pos:pos + _BLOCK]
                inp.pos = pos + _BLOCK
            else:
                hdr = read(_BLOCK)
            if len(hdr) < _BLOCK:
                if not hdr and not pax and longname is None and longlink is None:
                    break  # end of stream at a header boundary without the zero blocks
                raise LayerError("layer tar stream is truncated in a header")
            if hdr == _ZERO_BLOCK:
                second = read(_BLOCK)
                if second and second != _ZERO_BLOCK:
                    raise LayerError("layer tar stream has data after a single end-of-archive block")
                if pax or longname is not None or longlink is not None:
                    raise LayerError("layer tar stream ends after an extended header")
                break
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
                if len(data) < size or not inp.skip(-size % _BLOCK):
                    raise LayerError("layer tar stream is truncated in an extended header")
                if typeflag == b"x":
                    pax.update(_parse_pax(data, name))
                elif typeflag == b"g":
                    global_pax.update(_parse_pax(data, name))
                    meta_bytes -= size
                    if sum(len(k) + len(v) for k, v in global_pax.items()) > max_header:
                        raise LayerError("global PAX headers exceed the limit of %d bytes" % max_header)
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

            # -- a real entry: assemble its attributes --------------------------------
            self.entries += 1
            if self.entries > self.max_entries:
                raise LayerError("layer has more than %d entries (limit)" % self.max_entries)
            if self.inodes > self.max_entries:
                raise LayerError("layer has more than %d entries (limit)" % self.max_entries)
            self.inodes += 1
            if len(fds) > _FD_CACHE:
                self._trim()

            if hdr[345] and hdr[257:263] == _POSIX_MAGIC:
                name = hdr[345:500].partition(b"\x00")[0] + b"/" + name
            if longname is not None:
                name = longname
            link = longlink if longlink is not None else hdr[157:257].partition(b"\x00")[0]
            kind = _TYPES.get(typeflag)
            if kind is None:
                raise _bad(name, "unsupported tar entry type %r (%s)"
                           % (typeflag.decode("latin-1"), _TYPE_NAMES.get(typeflag, "unknown")))
            if kind == _REG and typeflag == b"\x00" and name.endswith(b"/"):
                kind = _DIR  # pre-POSIX directory
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
                        raise _bad(name, "sparse files are not supported in layers")
                    elif key == b"SCHILY.devmajor":
                        devmajor = _pax_int(value, key, name)
                    elif key == b"SCHILY.devminor":
                        devminor = _pax_int(value, key, name)
                pax = {}
            longname = longlink = None
            meta_bytes = 0
            if uid < 0 or gid < 0:
                raise _bad(name, "negative uid/gid")

            # Header-only types carry no data, whatever their size field says (as in
            # Go's archive/tar and Python's tarfile): never let parsers disagree.
            if kind != _REG and typeflag != b"D":
                size = 0
            pad = -size % _BLOCK

            # -- the name ---------------------------------------------------------------
            if len(name) > max_path:
                raise _bad(name[:200] + b"...", "path longer than %d bytes" % max_path)
            # (str.find, not "in": much cheaper on bytes in CPython)
            if (name.startswith(_SLOW_START) or name.find(b"/.") >= 0
                    or name.find(b"//") >= 0 or name.endswith(b"/")):
                rel = self._clean(name)
            else:  # already normal: no empty, "." or ".." component
                rel = name
                if len(name) >= depth_check and name.count(b"/") >= self.max_depth:
                    rel = self._clean(name)
            parent, dummy, base = rel.rpartition(b"/")
            if rel.find(_WH) >= 0:
                action = self._whiteout_check(name, parent, base)
                if action is not None:
                    if action == "whiteout":
                        self._whiteout(parent, base)
                        applied += 1
                    _skip_entry(inp, name, size, pad)
                    continue
            if kind == _SKIP:
                _skip_entry(inp, name, size, pad)
                continue

            self.name = name
            try:
                if pending and rel in pending:
                    writers.wait_name(rel)  # a file of that name is still being created
                if (kind == _REG and writers is not None and size <= _JOB_MAX and not xattrs
                        and rel and rel not in pending_dirs and rel not in made_dirs):
                    # Read the data here (the stream is sequential), resolve the parent
                    # here, let a worker create and fill the file (see _FileWriters).
                    data = b""
                    if size:
                        pos = inp.pos
                        end = pos + size
                        if end + pad <= len(inp.buf):
                            data = inp.buf[pos:end]
                            inp.pos = end + pad
                            pad = 0
                        else:
                            data = read(size)
                    pfd = fds.get(parent)
                    if pfd is None:
                        pfd = self.dirfd(parent)
                    if len(data) < size:
                        raise _bad(name, "truncated data")
                    writers.submit(pfd, rel, base, name, data, mode, uid, gid, mtime)
                    if pad:
                        inp.skip(pad)  # see _skip_entry: a missing final padding ends the archive
                elif kind == _REG:
                    if not rel:
                        raise _bad(name, "a regular file cannot replace the layer root")
                    pfd = fds.get(parent)
                    if pfd is None:
                        pfd = self.dirfd(parent)
                    try:
                        fd = os.open(base, _O_FILE, 0o600, dir_fd=pfd)
                    except FileExistsError:
                        self._make_room(pfd, base, rel)
                        fd = os.open(base, _O_FILE, 0o600, dir_fd=pfd)
                    try:
                        if size:
                            pos = inp.pos
                            end = pos + size
                            if end + pad <= len(inp.buf):  # all in the current chunk
                                done = os.write(fd, inp.mv[pos:end])
                                if done < size:
                                    _write_all(fd, inp.mv[pos + done:end])
                                inp.pos = end + pad
                                pad = 0
                            elif not inp.copy_to(fd, size):
                                raise _bad(name, "truncated data")
                        if uid or gid or not self.skip_zero_chown:
                            self._chown(fd, uid, gid)
                        os.fchmod(fd, mode)
                        if xattrs:
                            self._xattrs(fd, xattrs, False)
                        os.utime(fd, ns=(mtime, mtime))
                    finally:
                        os.close(fd)
                    if pad:
                        inp.skip(pad)  # see _skip_entry: a missing final padding ends the archive
                elif kind == _DIR:
                    self._directory(rel, parent, base, mode, uid, gid, mtime, xattrs)
                    if size:
                        _skip_entry(inp, name, size, pad)
                elif kind == _SYM:
                    self._symlink(rel, parent, base, link, uid, gid, mtime, xattrs)
                elif kind == _LNK:
                    self._hardlink(rel, parent, base, link)
                else:
                    if kind != _FIFO:
                        if devmajor is None:
                            devmajor = _num(hdr[329:337], "devmajor", name)
                        if devminor is None:
                            devminor = _num(hdr[337:345], "devminor", name)
                    self._special(kind, devmajor, devminor, rel, parent, base, mode, uid, gid,
                                  mtime, xattrs)
            except OSError as err:
                raise _os_error(name, err) from None
            except (OverflowError, ValueError) as err:
                raise _bad(name, str(err)) from None
            applied += 1
        return applied

    def _clean(self, name: bytes) -> bytes:
        """Normalise an archive path: relative to the root, no ``.``/``..``/empty parts."""
        parts = []
        for comp in name.split(b"/"):
            if not comp or comp == b".":
                continue
            if comp == b"..":
                if not parts:
                    raise _bad(name, "path escapes the layer root")
                parts.pop()
            else:
                parts.append(comp)
        if len(parts) > self.max_depth:
            raise _bad(name, "path deeper than %d components" % self.max_depth)
        return b"/".join(parts)

    def _whiteout_check(self, name: bytes, parent: bytes, base: bytes):
        """Classify a name containing ``.wh.``: None (ordinary), "skip" or "whiteout"."""
        if parent:
            for comp in parent.split(b"/"):
                if comp.startswith(_WH):
                    if comp in _WH_AUFS_META:
                        return "skip"
                    raise _bad(name, "a whiteout name (%r) cannot be a directory"
                               % _display(comp))
        if not base.startswith(_WH):
            return None
        if base in _WH_AUFS_META:
            return "skip"
        if base == _WH_OPQ:
            return "whiteout"
        if base.startswith(_WH_META):
            raise _bad(name, "unknown whiteout meta entry %r" % _display(base))
        target = base[len(_WH):]
        if target in (b"", b".", b".."):
            raise _bad(name, "malformed whiteout %r" % _display(base))
        return "whiteout"

    def _whiteout(self, parent: bytes, base: bytes) -> None:
        self.name = parent + b"/" + base if parent else base
        try:
            try:
                pfd = self.dirfd(parent)
            except _NonDirectoryParent:
                # This layer replaced the parent with a file, which already hides
                # everything below it in lower layers: the whiteout has nothing left to
                # do (umoci 0.4 repack writes such layers; podman accepts them). Through
                # a symlinked parent it is still refused, as every write is.
                return
            if base == _WH_OPQ:
                self._set_opaque(pfd)
                return
            target = base[len(_WH):]
            if self.writers is not None:
                self.writers.wait_name(parent + b"/" + target if parent else target)
            try:
                os.mknod(target, stat.S_IFCHR, os.makedev(0, 0), dir_fd=pfd)
            except FileExistsError:
                st = os.stat(target, dir_fd=pfd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    # This layer made the directory; the whiteout still hides the
                    # lower one's content: make ours opaque.
                    self._set_opaque(self.dirfd(parent + b"/" + target if parent else target))
                # A non-directory of this layer already hides the lower entry.
        except PermissionError as err:
            raise _bad(self.name, "cannot create an overlay whiteout (%s); this needs root"
                       % err.strerror) from None
        except OSError as err:
            raise _os_error(self.name, err) from None

    def _directory(self, rel, parent, base, mode, uid, gid, mtime, xattrs) -> None:
        if not rel:
            fd = self.rootfd
        else:
            pfd = self.fds.get(parent)
            if pfd is None:
                pfd = self.dirfd(parent)
            opaque = False
            try:
                os.mkdir(base, 0o700, dir_fd=pfd)
            except FileExistsError:
                st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    # Replacing this layer's whiteout of the same name: the lower
                    # directory stays hidden, so the new one is opaque.
                    opaque = stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
                    os.unlink(base, dir_fd=pfd)
                    os.mkdir(base, 0o700, dir_fd=pfd)
            fd = self.fds.get(rel)
            if fd is None:
                fd = os.open(base, _O_DIR, dir_fd=pfd)
                self.fds[rel] = fd
            if opaque:
                self._set_opaque(fd)
        self._chown(fd, uid, gid)
        if xattrs:
            self._xattrs(fd, xattrs, False)
        self.pending_dirs[rel] = (mode, mtime)

    def _symlink(self, rel, parent, base, target, uid, gid, mtime, xattrs) -> None:
        if not rel:
            raise _bad(self.name, "a symlink cannot replace the layer root")
        if not target:
            raise _bad(self.name, "symlink with an empty target")
        if b"\x00" in target:
            raise _bad(self.name, "symlink target contains a NUL byte")
        pfd = self.fds.get(parent)
        if pfd is None:
            pfd = self.dirfd(parent)
        try:
            os.symlink(target, base, dir_fd=pfd)
        except FileExistsError:
            self._make_room(pfd, base, rel)
            os.symlink(target, base, dir_fd=pfd)
        self._chown(base, uid, gid, pfd)
        if xattrs:
            self._xattrs(self._proc_path(pfd, base), xattrs, True)
        os.utime(base, ns=(mtime, mtime), dir_fd=pfd, follow_symlinks=False)

    def _hardlink(self, rel, parent, base, link) -> None:
        if not rel:
            raise _bad(self.name, "a hardlink cannot replace the layer root")
        if len(link) > self.max_path:
            raise _bad(self.name, "hardlink target longer than %d bytes" % self.max_path)
        if b"\x00" in link:
            raise _bad(self.name, "hardlink target contains a NUL byte")
        try:
            target = self._clean(link)
        except LayerError:
            raise _bad(self.name, "hardlink target %r escapes the layer root"
                       % _display(link)) from None
        if not target:
            raise _bad(self.name, "hardlink to the layer root")
        if _WH in target and any(c.startswith(_WH) for c in target.split(b"/")):
            raise _bad(self.name, "hardlink to a whiteout name %r" % _display(link))
        if target == rel:
            return  # a link to itself: nothing to do
        if self.writers is not None:
            self.writers.wait_name(target)  # the target may still be being created
        tparent, dummy, tbase = target.rpartition(b"/")
        pfd = self.fds.get(parent)
        if pfd is None:
            pfd = self.dirfd(parent)
        try:
            tpfd = self.dirfd(tparent, create=False)
            os.link(tbase, base, src_dir_fd=tpfd, dst_dir_fd=pfd, follow_symlinks=False)
        except FileExistsError:
            self._make_room(pfd, base, rel)
            pfd = self.dirfd(parent)
            tpfd = self.dirfd(tparent, create=False)
            os.link(tbase, base, src_dir_fd=tpfd, dst_dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            raise _bad(self.name, "hardlink target %r does not exist in this layer"
                       % _display(link)) from None
        except PermissionError:
            raise _bad(self.name, "hardlink target %r is a directory or not linkable"
                       % _display(link)) from None

    def _special(self, kind, major, minor, rel, parent, base, mode, uid, gid, mtime,
                 xattrs) -> None:
        if not rel:
            raise _bad(self.name, "a device or fifo cannot replace the layer root")
        pfd = self.fds.get(parent)
        if pfd is None:
            pfd = self.dirfd(parent)
        if kind == _FIFO:
            fmt, dev = stat.S_IFIFO, 0
        else:
            fmt = stat.S_IFCHR if kind == _CHR else stat.S_IFBLK
            if not (0 <= major < 1 << 32 and 0 <= minor < 1 << 32):
                raise _bad(self.name, "device number %d:%d out of range" % (major, minor))
            dev = os.makedev(major, minor)
        try:
            os.mknod(base, fmt | 0o600, dev, dir_fd=pfd)
        except FileExistsError:
            self._make_room(pfd, base, rel)
            os.mknod(base, fmt | 0o600, dev, dir_fd=pfd)
        self._chown(base, uid, gid, pfd)
        os.chmod(base, mode, dir_fd=pfd)  # just created by us: not a symlink
        if xattrs:
            self._xattrs(self._proc_path(pfd, base), xattrs, True)
        os.utime(base, ns=(mtime, mtime), dir_fd=pfd, follow_symlinks=False)

    def finish_dirs(self) -> None:
        """Apply directory modes and mtimes, after all their content was written."""
        for rel, (mode, mtime) in self.pending_dirs.items():
            if len(self.fds) > _FD_CACHE:
                self._trim()
            self.name = rel
            try:
                fd = self.dirfd(rel, create=False)
            except (LayerError, OSError):
                continue  # replaced by something else later in the layer
            try:
                os.fchmod(fd, mode)
                os.utime(fd, ns=(mtime, mtime))
            except OSError as err:
                raise _os_error(rel or b".", err) from None
            except OverflowError as err:
                raise _bad(rel or b".", str(err)) from None


def _blob_mismatch(raw: _HashingReader, blob_hash: Digester, expected_digest, expected_size):
    """After a failure: why the blob is not the expected one (reading its rest), or None."""
    if expected_digest is None and expected_size is None:
        return None
    try:
        while raw.read(_CHUNK):
            pass
    except Exception:  # pylint: disable=broad-except
        if expected_size is not None and raw.size > expected_size:
            return "layer blob is larger than its expected size %d" % expected_size
        return None  # cannot tell: keep the original error
    if expected_size is not None and raw.size != expected_size:
        return "layer blob: size %d does not match the expected %d" % (raw.size, expected_size)
    if expected_digest and blob_hash.digest() != expected_digest:
        return "layer blob: digest %s does not match the expected %s" % (blob_hash.digest(),
                                                                         expected_digest)
    return None


def unpack_layer(blob_stream, dest: str, *, media_type: str | None = None,
                 expected_blob_digest: str | None = None,
                 expected_diff_id: str | None = None,
                 expected_blob_size: int | None = None,
                 max_size: int = DEFAULT_MAX_SIZE,
                 max_entries: int = DEFAULT_MAX_ENTRIES,
                 max_path: int = DEFAULT_MAX_PATH,
                 max_depth: int = DEFAULT_MAX_DEPTH,
                 max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
                 threads: bool = False, workers: int | None = None) -> UnpackResult:
    """Apply the layer read from ``blob_stream`` into the empty directory ``dest``.

    One pass: the raw blob is hashed, decompressed (gzip, zstd or plain, detected
    from magic bytes; ``media_type`` is a hint), hashed again and applied entry by
    entry. At the end, a wrong ``expected_blob_digest`` (or ``expected_blob_size``)
    raises ``DigestMismatchError``, a wrong ``expected_diff_id`` raises
    ``LayerError``; so does every hostile or malformed entry, with its name in the
    message. ``dest`` must be a fresh empty directory; on any exception the caller
    must discard it (see the module docstring for the full contract and limits).

    Limits: ``max_size`` (decompressed bytes), ``max_entries`` (entries plus
    implicit directories), ``max_path`` (bytes per name), ``max_depth`` (components
    per name), ``max_header_size`` (PAX/GNU extended headers of one entry).
    ``expected_blob_size`` (the descriptor's size) also caps how much is read.
    ``threads`` decompresses and hashes in a helper thread. ``workers`` threads
    (default ``DEFAULT_WORKERS``; 0: none) write and finish small regular files.
    """
    if expected_blob_digest:
        blob_hash = Digester(expected_blob_digest)
    else:
        blob_hash = Digester()
    tar_hash = Digester(expected_diff_id) if expected_diff_id else Digester()
    raw_limit = max_size + max_size // 8 + (1 << 20) if max_size is not None else None
    if expected_blob_size is not None and expected_blob_size >= 0:
        raw_limit = expected_blob_size if raw_limit is None else min(raw_limit, expected_blob_size)
    raw = _HashingReader(blob_stream, blob_hash, raw_limit)
    if workers is None:
        workers = DEFAULT_WORKERS
    unpacker = _Unpacker(dest, max_entries, max_path, max_depth, max_header_size, workers)
    reader = prefetch = None
    same = False
    try:
        try:
            reader = compression.open_decompressed(raw, media_type, max_size=max_size)
            # A plain tar is its own diff: hash it once, not twice.
            same = reader.compression == compression.PLAIN and \
                tar_hash.algorithm == blob_hash.algorithm
            digester = _NullDigester() if same else tar_hash
            if threads:
                prefetch = _Prefetcher(reader, digester)
                inp = _Input(prefetch, _NullDigester())
            else:
                inp = _Input(reader, digester)
            entries = unpacker.run(inp)
            inp.drain()
            if prefetch is not None:
                prefetch.close()
            if raw.read(_CHUNK):
                raise LayerError("layer blob has trailing data after the compressed stream")
        except LayerError as err:
            if prefetch is not None:
                prefetch.close()  # before reading the rest of the blob here
            # Bytes damaged in transit look like a malformed layer; when the blob
            # turns out not to be the one expected, say that instead.
            mismatch = _blob_mismatch(raw, blob_hash, expected_blob_digest, expected_blob_size)
            if mismatch:
                raise DigestMismatchError(mismatch) from err
            raise
        unpacker.finish_dirs()
    except _StreamError as err:
        raise err.error  # pylint: disable=raise-missing-from
    finally:
        if prefetch is not None:
            prefetch.close()
        unpacker.close()
        if reader is not None:
            reader.close()
    blob_digest = blob_hash.verify("layer blob", expected_blob_size)
    if same:
        tar_hash = blob_hash
    diff_id = tar_hash.digest()
    if expected_diff_id and diff_id != expected_diff_id:
        raise LayerError("layer diff ID %s does not match the expected %s (blob %s)"
                         % (diff_id, expected_diff_id, blob_digest))
    return UnpackResult(blob_digest=blob_digest, diff_id=diff_id, size=tar_hash.size,
                        entries=entries, blob_size=raw.size, compression=reader.compression)
