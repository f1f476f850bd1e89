# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An OCI image layout directory (image-spec image-layout.md).

``oci-layout``, ``index.json`` and ``blobs/<alg>/<hex>``. The content store is one of
these (so skopeo and umoci read it); the ``oci:DIR`` transport is another. Blobs get
their final name only after they verify, through a temp file, fsync and rename.
"""

from __future__ import annotations

import json
import os
import time

from ..model.digest import Digester, parse_digest
from ..common.errors import DigestMismatchError, StoreError, TransientError
from ..common.fileutil import atomic_write, fsync_dir, open_regular_file
from ..common.libc import libc_function
from .peek import REF_NAME, blob_path, open_blob, read_blob

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Callable, Dict, Iterator, List, Optional, Tuple

LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}
CHUNK = 1024 * 1024

if TYPE_CHECKING:
    # A blob source: given a byte offset, return (stream, offset it really starts at).
    # A server that ignores Range answers from 0, and the caller starts over.
    BlobOpener = Callable[[int], Tuple[BinaryIO, int]]
    # Called once a blob's bytes are all received and verified, before they are made durable
    # (fsync) and named: a copy checks its documents there, while the disk works (image.copy).
    Received = Optional[Callable[[], None]]


def empty_index() -> Dict[str, Any]:
    return {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}


class OCILayout:
    """Blobs and index of one OCI image layout directory. No locking: see storage.store."""

    def __init__(self, root: str, tmp_dir: Optional[str] = None):
        self.root = os.path.abspath(root)
        self.tmp_dir = tmp_dir or os.path.join(self.root, "blobs")

    # -- creation -------------------------------------------------------------------
    @classmethod
    def create(cls, root: str, mode: int = 0o755) -> "OCILayout":
        layout = cls(root)
        os.makedirs(os.path.join(layout.root, "blobs", "sha256"), mode=mode, exist_ok=True)
        if not os.path.exists(layout.index_path):
            atomic_write(layout.index_path, json.dumps(empty_index()).encode(), 0o644)
        # Last, so that a directory with an oci-layout file is a whole layout.
        if not os.path.exists(os.path.join(layout.root, "oci-layout")):
            atomic_write(os.path.join(layout.root, "oci-layout"), json.dumps(LAYOUT_VERSION).encode(), 0o644)
        return layout

    @classmethod
    def open(cls, root: str) -> "OCILayout":
        layout = cls(root)
        marker = os.path.join(layout.root, "oci-layout")
        try:
            with open_regular_file(marker) as handle:
                version = json.load(handle).get("imageLayoutVersion")
        except (OSError, ValueError, AttributeError, StoreError) as err:
            raise StoreError("%s is not an OCI image layout: %s" % (root, err))
        if not isinstance(version, str) or not version.startswith("1."):
            raise StoreError("%s: unsupported imageLayoutVersion %r" % (root, version))
        return layout

    # -- blobs ----------------------------------------------------------------------
    def blob_path(self, digest: str) -> str:
        return blob_path(self.root, digest)

    def has_blob(self, digest: str, size: Optional[int] = None) -> bool:
        try:
            st = os.stat(self.blob_path(digest))
        except FileNotFoundError:
            return False
        return size is None or size < 0 or st.st_size == size

    def open_blob(self, digest: str) -> BinaryIO:
        return open_blob(self.root, digest)

    def read_blob(self, digest: str) -> bytes:
        """Read a small blob (manifest, config) and verify it."""
        return read_blob(self.root, digest)

    def write_blob(self, data: bytes, digest: Optional[str] = None) -> str:
        """Store ``data``; if ``digest`` is given it must match. Returns the digest."""
        digester = Digester(digest)
        digester.update(data)
        actual = digester.verify("blob")
        if not self.has_blob(actual, len(data)):
            path = self.blob_path(actual)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            atomic_write(path, data, 0o644, tmp_dir=self.tmp_dir)
        return actual

    def ingest_blob(self, desc: Dict[str, Any], opener: BlobOpener, partial_path: Optional[str] = None,
                    retries: int = 5, backoff: float = 0.5, received: Received = None) -> bool:
        """Stream a blob from ``opener`` into the layout, verified before it gets its name.

        With ``partial_path``, bytes already received survive a crash or a dropped
        connection there, and a later call resumes from them. Transient errors are
        retried from the current offset. Returns False if the blob was already present.
        ``received`` is called once the bytes verified, before the fsync (BlobReceiver.finish).
        """
        if self.has_blob(desc["digest"], desc.get("size", -1)):
            return False
        own_temp = partial_path is None
        if own_temp:
            import tempfile  # here: only a download needs it
            fd, partial_path = tempfile.mkstemp(prefix=".tmp-", dir=self.tmp_dir)
            os.close(fd)
        try:
            with BlobReceiver(desc, opener, partial_path, retries=retries, backoff=backoff) as receiver:
                receiver.drain()
                receiver.finish(received)
            self.adopt_blob(desc["digest"], partial_path)
        except BaseException:
            if own_temp:
                _unlink_quietly(partial_path)
            raise
        return True

    def adopt_blob(self, digest: str, path: str) -> None:
        """Give a verified, fsynced file its blob name."""
        final = self.blob_path(digest)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.chmod(path, 0o644)
        os.rename(path, final)
        fsync_dir(os.path.dirname(final))

    def blob_digests(self) -> Iterator[str]:
        blobs = os.path.join(self.root, "blobs")
        for algorithm in sorted(os.listdir(blobs)) if os.path.isdir(blobs) else ():
            directory = os.path.join(blobs, algorithm)
            if not os.path.isdir(directory):
                continue
            for name in os.listdir(directory):
                digest = "%s:%s" % (algorithm, name)
                try:
                    parse_digest(digest)
                except Exception:
                    continue
                yield digest

    def remove_blob(self, digest: str) -> None:
        _unlink_quietly(self.blob_path(digest))

    # -- index ----------------------------------------------------------------------
    @property
    def index_path(self) -> str:
        return os.path.join(self.root, "index.json")

    def read_index(self) -> Dict[str, Any]:
        try:
            with open_regular_file(self.index_path) as handle:
                index = json.load(handle)
        except FileNotFoundError:
            return empty_index()
        except ValueError as err:
            raise StoreError("%s is not valid JSON: %s" % (self.index_path, err))
        if not isinstance(index, dict) or not isinstance(index.get("manifests", []), list):
            raise StoreError("%s is not an OCI index" % self.index_path)
        index.setdefault("manifests", [])
        return index

    def write_index(self, index: Dict[str, Any]) -> None:
        data = json.dumps(index, indent=None, separators=(",", ":"), sort_keys=False).encode()
        atomic_write(self.index_path, data, 0o644)

    def entries(self) -> List[Dict[str, Any]]:
        return list(self.read_index()["manifests"])

    def find(self, ref_name: str) -> Optional[Dict[str, Any]]:
        for desc in self.read_index()["manifests"]:
            if (desc.get("annotations") or {}).get(REF_NAME) == ref_name:
                return desc
        return None

    def put_ref(self, ref_name: Optional[str], desc: Dict[str, Any]) -> bool:
        """Point ``ref_name`` at ``desc`` (replacing what it named). Returns True if index.json changed."""
        index = self.read_index()
        entry = dict(desc)
        annotations = dict(entry.get("annotations") or {})
        if ref_name:
            annotations[REF_NAME] = ref_name
        if annotations:
            entry["annotations"] = annotations
        if entry in index["manifests"]:
            return False
        kept = [d for d in index["manifests"]
                if not (ref_name and (d.get("annotations") or {}).get(REF_NAME) == ref_name)]
        index["manifests"] = kept + [entry]
        self.write_index(index)
        return True

    def remove_ref(self, ref_name: str) -> Optional[Dict[str, Any]]:
        index = self.read_index()
        removed = None
        kept = []
        for desc in index["manifests"]:
            if (desc.get("annotations") or {}).get(REF_NAME) == ref_name:
                removed = desc
            else:
                kept.append(desc)
        if removed is not None:
            index["manifests"] = kept
            self.write_index(index)
        return removed


class BlobReceiver:
    """A blob as a readable stream that survives interruptions.

    ``read`` hands out the bytes already in ``partial_path`` first (what an earlier,
    interrupted run received), then the rest from ``opener``, appending every new byte
    to the partial file so that a later run resumes there. A dropped connection
    (TransientError) is retried from the current offset with backoff. A server that
    ignores Range (answers from 0) makes it start the file over, which only works
    while nothing was handed out yet.

    ``finish`` reads what is left, fsyncs, and (with ``verify``) checks digest and
    size; a mismatch deletes the partial file, whose bytes are then known bad. Without
    ``verify`` the caller checks the digest itself (unpack_layer hashes what it reads).
    """

    def __init__(self, desc: Dict[str, Any], opener: BlobOpener, partial_path: str, verify: bool = True,
                 retries: int = 5, backoff: float = 0.5):
        self.digest = desc["digest"]
        self.size = desc.get("size", -1)
        self.what = "blob %s" % self.digest
        self.opener = opener
        self.partial_path = partial_path
        self.retries = retries
        self.backoff = backoff
        self.digester: Optional[Digester] = Digester(self.digest) if verify else None
        self.out = open(partial_path, "ab")
        self.have = self.out.tell()          # bytes in the partial file
        if 0 <= self.size < self.have:
            self.out.truncate(0)
            self.have = 0
        self.position = 0                    # bytes handed out
        self.flushed = self.have
        self._reader: Optional[BinaryIO] = open(partial_path, "rb") if self.have else None
        self._stream: Optional[BinaryIO] = None

    def __enter__(self) -> "BlobReceiver":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def read(self, size: int = CHUNK) -> bytes:
        if size is None or size < 0:
            size = CHUNK
        chunk = self._read_partial(size) if self.position < self.have else self._read_network(size)
        if chunk and self.digester is not None:
            self.digester.update(chunk)
        self.position += len(chunk)
        return chunk

    def _read_partial(self, size: int) -> bytes:
        chunk = self._reader.read(min(size, self.have - self.position))
        if not chunk:
            raise StoreError("%s: partial download %s shrank while reading it" % (self.what, self.partial_path))
        return chunk

    def _read_network(self, size: int) -> bytes:
        if 0 <= self.size <= self.have:
            return b""
        attempt = 0
        while True:
            try:
                if self._stream is None:
                    self._open_stream()
                chunk = self._stream.read(size)
                break
            except TransientError:
                self._close_stream()
                attempt += 1
                if attempt > self.retries:
                    raise
                time.sleep(min(self.backoff * (2 ** (attempt - 1)), 8.0))
        if not chunk:
            return b""
        if 0 <= self.size < self.have + len(chunk):
            raise DigestMismatchError("%s: more data than the expected %d bytes" % (self.what, self.size))
        self.out.write(chunk)
        self.have += len(chunk)
        if self.have - self.flushed >= WRITEBACK_STEP:
            self.out.flush()
            start_writeback(self.out.fileno(), self.flushed, self.have - self.flushed)
            self.flushed = self.have
        return chunk

    def _open_stream(self) -> None:
        stream, start = self.opener(self.have)
        if start != self.have:
            if start != 0:
                stream.close()
                raise TransientError("%s: resumed at %d instead of %d" % (self.what, start, self.have))
            # The server ignored Range: rewrite the partial file from its answer, skipping
            # past what was already handed out (the final digest covers every byte).
            self.out.truncate(0)
            self.have = self.flushed = 0
            self._stream = stream
            while self.have < self.position:
                chunk = stream.read(min(CHUNK, self.position - self.have))
                if not chunk:
                    raise TransientError("%s: ended after %d bytes on restart" % (self.what, self.have))
                self.out.write(chunk)
                self.have += len(chunk)
            return
        self._stream = stream

    def _close_stream(self) -> None:
        if self._stream is not None:
            try:
                self._stream.close()
            finally:
                self._stream = None

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    def finish(self, received: Received = None) -> None:
        """Read what is left, (with verify) check it, call ``received``, then make it durable."""
        self.drain()
        self.out.flush()
        if self.digester is not None:
            try:
                self.digester.verify(self.what, self.size)
            except DigestMismatchError:
                self.discard()
                raise
        if received is not None:
            received()
        os.fsync(self.out.fileno())

    def discard(self) -> None:
        """Forget the partial file: its content is known to be wrong."""
        self.close()
        _unlink_quietly(self.partial_path)

    def close(self) -> None:
        self._close_stream()
        for handle in (self._reader, self.out):
            if handle is not None and not handle.closed:
                handle.close()


WRITEBACK_STEP = 8 * 1024 * 1024
_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range to disk now, without waiting for it.

    The blob is fsynced before it is renamed; starting writeback while the download
    goes on lets the disk work in parallel instead of all at the final fsync.
    """
    function = libc_function("sync_file_range")
    if function is not None:
        function(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
