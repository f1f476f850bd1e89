# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Streaming layer (de)compression: gzip, zstd and plain tar.

Reading
    ``open_decompressed(stream, media_type)`` looks at the first bytes of ``stream``
    (not at the media type: registries and tools mislabel layers, the magic bytes do
    not lie) and returns a reader whose ``read(n)`` yields at most ``n`` decompressed
    bytes at a time. Nothing is buffered beyond one input chunk and one
    output chunk, so memory stays flat whatever the layer size.

    gzip uses ``isal.isal_zlib`` when importable (about 3x faster inflate), else the
    stdlib ``zlib``; multi-member gzip streams are followed, trailing NUL padding is
    accepted and hashed by the caller, any other trailing garbage is an error.
    zstd needs the optional ``zstandard`` package; a zstd layer without it raises
    ``LayerError`` naming the package.

    Decompression bombs: every reader counts its output and raises ``LayerError`` as
    soon as it would exceed ``max_size`` bytes. Each ``read`` call inflates at most
    ``n`` bytes (zlib ``max_length``; zstd's bounded ``stream_reader``), so a tiny
    input cannot make a single call allocate gigabytes either. zstd frames that ask
    for a window larger than ``ZSTD_MAX_WINDOW`` are refused by the library.

Writing
    ``compressor(kind, level)`` returns an object with ``compress(data)`` and
    ``flush()``; ``CompressWriter`` wraps a writable file, hashing both the
    uncompressed stream (diff ID) and the compressed one (blob digest). gzip output
    bytes depend on the backend (isal and zlib produce different, equally valid
    streams): pass ``backend="zlib"`` when byte-for-byte reproducible blobs matter.
"""

from __future__ import annotations

import hashlib
import zlib

from ..common.errors import LayerError
from .limits import DEFAULT_MAX_SIZE

GZIP = "gzip"
ZSTD = "zstd"
PLAIN = "plain"

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

READ_CHUNK = 256 * 1024
ZSTD_MAX_WINDOW = 1 << 27  # 128 MiB, zstd's own default decoding limit

_isal_zlib = None
_zstd = None


def _gzip_backend(prefer_isal: bool = True):
    """The isal_zlib module when importable (and wanted), else stdlib zlib."""
    global _isal_zlib
    if prefer_isal:
        if _isal_zlib is None:
            try:
                from isal import isal_zlib  # type: ignore
                _isal_zlib = isal_zlib
            except ImportError:
                _isal_zlib = False
        if _isal_zlib:
            return _isal_zlib
    return zlib


def _zstandard():
    global _zstd
    if _zstd is None:
        try:
            import zstandard  # type: ignore
        except ImportError:
            _zstd = False
        else:
            _zstd = zstandard
    if not _zstd:
        raise LayerError("this layer is zstd-compressed, but the Python package 'zstandard' "
                         "is not installed (pip install zstandard)")
    return _zstd


def detect(head: bytes) -> str:
    """Compression of a stream from its first bytes."""
    if head[:2] == GZIP_MAGIC:
        return GZIP
    if head[:4] == ZSTD_MAGIC:
        return ZSTD
    # zstd skippable frame: magic 0x184D2A5? little-endian, may precede real frames.
    if len(head) >= 4 and head[1:4] == b"\x2a\x4d\x18" and (head[0] & 0xF0) == 0x50:
        return ZSTD
    if head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        raise LayerError("layer is compressed with %s, which OCI layers do not use"
                         % ("bzip2" if head[:3] == b"BZh" else "xz"))
    return PLAIN


def _read_head(stream, n: int = 6) -> bytes:
    """Read at least ``n`` bytes (fewer only at EOF), for magic detection."""
    head = b""
    while len(head) < n:
        chunk = stream.read(READ_CHUNK if not head else n - len(head))
        if not chunk:
            break
        head += chunk
    return head


class _Reader:
    """Base of the decompressing readers: counts output and enforces the size limit."""

    compression = PLAIN

    def __init__(self, max_size: int | None):
        self.max_size = max_size
        self.size = 0

    def _account(self, data: bytes) -> bytes:
        self.size += len(data)
        if self.max_size is not None and self.size > self.max_size:
            raise LayerError("decompressed layer exceeds the size limit of %d bytes "
                             "(decompression bomb?)" % self.max_size)
        return data

    def read(self, n: int = READ_CHUNK) -> bytes:  # pragma: no cover - overridden
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _PlainReader(_Reader):
    compression = PLAIN

    def __init__(self, stream, head: bytes, max_size):
        super().__init__(max_size)
        self._stream = stream
        self._head = head

    def read(self, n: int = READ_CHUNK) -> bytes:
        if n is None or n < 0:
            n = READ_CHUNK
        if self._head:
            data, self._head = self._head[:n], self._head[n:]
        else:
            data = self._stream.read(n)
        return self._account(data) if data else b""


class _GzipReader(_Reader):
    compression = GZIP

    def __init__(self, stream, head: bytes, max_size, backend):
        super().__init__(max_size)
        self._stream = stream
        self._zlib = backend
        self._d = backend.decompressobj(31)
        self._pending = head
        self._done = False
        self._errors = (zlib.error,) if backend is zlib else (zlib.error, backend.error)

    def _more(self) -> bytes:
        return self._stream.read(READ_CHUNK)

    def _after_member(self) -> bool:
        """At the end of one gzip member: start the next one, or finish. False at EOF."""
        rest = self._d.unused_data
        while True:
            if not rest:
                rest = self._more()
                if not rest:
                    return False
            if rest[0] == 0:
                # NUL padding after the last member (written by some tools): allowed,
                # but nothing else may follow it.
                stripped = rest.lstrip(b"\0")
                if stripped:
                    raise LayerError("gzip layer has garbage after NUL padding")
                rest = b""
                continue
            if len(rest) < 2:
                more = self._more()
                if more:
                    rest += more
                    continue
            if rest[:2] != GZIP_MAGIC:
                raise LayerError("gzip layer has trailing garbage after the compressed data")
            self._d = self._zlib.decompressobj(31)
            self._pending = rest
            return True

    def read(self, n: int = READ_CHUNK) -> bytes:
        if n is None or n < 0:
            n = READ_CHUNK
        if self._done:
            return b""
        d = self._d
        try:
            while True:
                # Also called with no pending input: inflate may still hold output
                # that did not fit under the previous call's max_length.
                out = d.decompress(self._pending, n)
                self._pending = d.unconsumed_tail
                if out:
                    return self._account(out)
                if d.eof:
                    if not self._after_member():
                        self._done = True
                        return b""
                    d = self._d
                    continue
                if not self._pending:
                    data = self._more()
                    if not data:
                        raise LayerError("gzip layer is truncated")
                    self._pending = data
        except self._errors as err:
            raise LayerError("gzip layer is corrupt: %s" % err) from None


class _Prepend:
    """A readable that yields ``head`` and then the rest of ``stream``."""

    def __init__(self, head: bytes, stream):
        self._head = head
        self._stream = stream

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0 or n >= len(self._head):
                data, self._head = self._head, b""
            else:
                data, self._head = self._head[:n], self._head[n:]
            return data
        return self._stream.read(READ_CHUNK if n is None or n < 0 else n)


class _ZstdReader(_Reader):
    compression = ZSTD

    def __init__(self, stream, head: bytes, max_size):
        super().__init__(max_size)
        zstandard = _zstandard()
        self._error = zstandard.ZstdError
        dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
        self._r = dctx.stream_reader(_Prepend(head, stream), read_size=READ_CHUNK,
                                     read_across_frames=True, closefd=False)

    def read(self, n: int = READ_CHUNK) -> bytes:
        if n is None or n < 0:
            n = READ_CHUNK
        try:
            data = self._r.read(n)
        except self._error as err:
            raise LayerError("zstd layer is corrupt: %s" % err) from None
        return self._account(data) if data else b""

    def close(self) -> None:
        self._r.close()


def open_decompressed(stream, media_type: str | None = None, *,
                      max_size: int | None = DEFAULT_MAX_SIZE, prefer_isal: bool = True):
    """Wrap ``stream`` (anything with ``read(n)``) in a streaming decompressor.

    The compression is detected from magic bytes, never from ``media_type`` (a ``+gzip``
    layer that is really a plain tar is read as a plain tar). The returned reader has
    ``read(n)``, ``compression`` (``gzip``, ``zstd`` or ``plain``) and ``size``
    (decompressed bytes so far). It raises ``LayerError`` once more than
    ``max_size`` bytes have come out (None disables the limit), on corrupt or
    truncated data, and when a zstd layer meets a missing ``zstandard`` package.
    """
    head = _read_head(stream)
    kind = detect(head)
    if kind == GZIP:
        reader = _GzipReader(stream, head, max_size, _gzip_backend(prefer_isal))
    elif kind == ZSTD:
        reader = _ZstdReader(stream, head, max_size)
    else:
        reader = _PlainReader(stream, head, max_size)
    return reader


# -- compression ---------------------------------------------------------------------

class _Identity:
    def compress(self, data: bytes) -> bytes:
        return bytes(data)

    def flush(self) -> bytes:
        return b""


def _isal_level(level: int) -> int:
    """Map a zlib-style level 0-9 onto isal's 0-3."""
    if level <= 0:
        return 0
    if level <= 3:
        return 1
    if level <= 6:
        return 2
    return 3


def compressor(kind: str = GZIP, level: int | None = None, *, backend: str | None = None):
    """A compressor object with ``compress(data) -> bytes`` and ``flush() -> bytes``.

    ``kind`` is ``gzip``, ``zstd`` or ``plain``. ``level`` is zlib-style 0-9 for gzip
    (default 6; mapped onto isal's 0-3 when isal is used) and a zstd level for zstd
    (default 3). ``backend`` picks the gzip implementation: ``"isal"``, ``"zlib"`` or
    None for isal when importable. zstd without ``zstandard`` raises ``LayerError``.
    """
    if kind == GZIP:
        level = 6 if level is None else level
        if backend not in (None, "isal", "zlib"):
            raise ValueError("unknown gzip backend %r" % (backend,))
        mod = _gzip_backend(prefer_isal=backend != "zlib")
        if backend == "isal" and mod is zlib:
            raise LayerError("gzip backend 'isal' requested, but the Python package 'isal' "
                             "is not installed")
        if mod is zlib:
            return zlib.compressobj(max(0, min(9, level)), zlib.DEFLATED, 31)
        return mod.compressobj(_isal_level(level), zlib.DEFLATED, 31)
    if kind == ZSTD:
        zstandard = _zstandard()
        return zstandard.ZstdCompressor(level=3 if level is None else level).compressobj()
    if kind in (PLAIN, None, "none"):
        return _Identity()
    raise ValueError("unknown compression %r" % (kind,))


class CompressWriter:
    """Writable file object: compresses into ``fileobj`` and hashes both sides.

    After ``close()`` (which does not close ``fileobj``), ``diff_id`` is the digest
    of what was written (the uncompressed tar) and ``blob_digest``/``blob_size``
    describe the compressed bytes that went to ``fileobj``.
    """

    def __init__(self, fileobj, kind: str = GZIP, level: int | None = None, *,
                 backend: str | None = None):
        self._out = fileobj
        self._c = compressor(kind, level, backend=backend)
        self._raw_hash = hashlib.sha256()
        self._blob_hash = hashlib.sha256()
        self.kind = kind
        self.size = 0
        self.blob_size = 0
        self.closed = False

    def writable(self) -> bool:
        return True

    def _emit(self, data: bytes) -> None:
        if data:
            self._blob_hash.update(data)
            self.blob_size += len(data)
            self._out.write(data)

    def write(self, data) -> int:
        if self.closed:
            raise ValueError("write to a closed CompressWriter")
        n = len(data)
        if n:
            self._raw_hash.update(data)
            self.size += n
            self._emit(self._c.compress(data))
        return n

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self._emit(self._c.flush())
            self.closed = True

    @property
    def diff_id(self) -> str:
        return "sha256:" + self._raw_hash.hexdigest()

    @property
    def blob_digest(self) -> str:
        return "sha256:" + self._blob_hash.hexdigest()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
