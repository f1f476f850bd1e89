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

Path safety and whiteouts: see ``applier``; the tar format rules: see ``tarreader``.

Errors
------
``LayerError`` (naming the entry) for anything wrong with the layer;
``DigestMismatchError`` when the blob is not the expected one (also when damage in
transit made it look malformed); ``StoreError`` for host failures while writing
(ENOSPC, EDQUOT, EIO, EROFS, EMFILE...), which say nothing about the layer.

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
The tar reader is ours (``tarreader``; no ``tarfile``: its streaming mode keeps every
member in a list and reads PAX headers of any size). Per regular file the work is: one header
parse, ``openat``, ``write`` from the decompression buffer (no copy for large
files), ``fchown`` (skipped for 0:0 as root), ``fchmod``, ``futimens``, ``close``.
Directory modes and mtimes are applied at the end, after their content. A plain
tar is hashed once (its blob digest is its diff ID). On ext4 most of the time is
spent in the kernel creating files (inode allocation), so ``workers`` threads
(``DEFAULT_WORKERS``) create, fill and finish regular files of up to 1 MiB, from a
``dup`` of the parent's descriptor resolved by the main thread, which does every
other operation in archive order and waits for pending files of a name before
touching that name again (details in ``filewriters``); the data handed to them is
capped at 8 MiB. ``workers=0`` does everything in the main thread. ``threads=True`` moves reading,
decompression and hashing to a helper thread (they release the GIL), which can
overlap them with extraction on an idle multi-core host; it is off by default
because on a busy 2-core machine it measured no better.
"""

from __future__ import annotations

import queue
import threading
from collections import namedtuple

from ..model.digest import Digester
from ..common.errors import DigestMismatchError, LayerError
from . import compression
from .applier import LayerApplier
from .tarreader import CHUNK as _CHUNK, NullDigester, StreamError, TarInput, TarReader

DEFAULT_MAX_SIZE = compression.DEFAULT_MAX_SIZE
DEFAULT_MAX_ENTRIES = 1000000
DEFAULT_MAX_PATH = 4096
DEFAULT_MAX_DEPTH = 256
DEFAULT_MAX_HEADER_SIZE = 1024 * 1024

#: Worker threads that create and fill small regular files while the main thread goes
#: on parsing (see filewriters); 0 does everything in the main thread.
DEFAULT_WORKERS = 2
_PREFETCH = 2


class UnpackResult(namedtuple("UnpackResult", "blob_digest diff_id size entries blob_size compression",
                              defaults=(0, compression.PLAIN))):
    """What was unpacked: digests of the blob and of the tar stream (blob_digest, diff_id: str),
    and counts (int): size, bytes of the uncompressed tar stream; entries, tar entries applied
    (whiteouts included, meta headers not); blob_size, bytes of the compressed blob; and
    compression (str)."""

    __slots__ = ()


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
    unpacker = LayerApplier(dest, max_entries, workers)
    reader = prefetch = None
    same = False
    try:
        try:
            reader = compression.open_decompressed(raw, media_type, max_size=max_size)
            # A plain tar is its own diff: hash it once, not twice.
            same = reader.compression == compression.PLAIN and \
                tar_hash.algorithm == blob_hash.algorithm
            digester = NullDigester() if same else tar_hash
            if threads:
                prefetch = _Prefetcher(reader, digester)
                inp = TarInput(prefetch)
            else:
                inp = TarInput(reader, digester)
            entries = unpacker.run(TarReader(inp, max_entries=max_entries, max_path=max_path,
                                             max_depth=max_depth, max_header_size=max_header_size))
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
    except StreamError as err:
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
