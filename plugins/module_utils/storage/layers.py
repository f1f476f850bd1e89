# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unpacked layers, each once, keyed by diff ID, ready to be overlayfs lower directories.

Layout under the store root, like containers/storage's overlay driver::

    overlay/<diff-id hex>/diff     the layer's files, whiteouts in overlay-native form
    overlay/<diff-id hex>/link     the short name below
    overlay/l/<short>              symlink to ../<diff-id hex>/diff; mount options name
                                   lowers by these short links so deep images fit in a page
    overlay/.tmp-*                 unpacks in progress; renamed into place when complete

A layer directory exists only once its unpack finished and both digests verified, so
a kill -9 leaves at most a ``.tmp-*`` directory, which the next run removes.
"""

from __future__ import annotations

import json
import os

from ..model.digest import parse_digest
from ..common.errors import DigestMismatchError, LayerError, UndockError
from ..common.fileutil import atomic_write, fsync_dir
from ..common.locks import FileLock
from ..model.graph import walk
from ..model.manifest import Manifest, parse_manifest
from .layer_dirs import LayerDirs, short_link
from .layout import BlobReceiver
from .peek import image_diff_ids
from .store import Store
from .trees import remove_tree
from .limits import DEFAULT_MAX_SIZE

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional
    from .layout import BlobOpener, Received

TEMP_PREFIX = ".tmp-"


class LayerStore(LayerDirs):
    """The store's unpacked layers (their names and links: LayerDirs), unpacked and removed."""

    def __init__(self, store: Store, max_size: int = DEFAULT_MAX_SIZE):
        super().__init__(store.root)
        self.store = store
        self.max_size = max_size

    def present(self) -> List[str]:
        """Diff IDs of every unpacked layer."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return ["sha256:" + n for n in names if len(n) == 64 and os.path.isdir(os.path.join(self.root, n, "diff"))]

    def lock(self, diff_id: str) -> FileLock:
        return FileLock(os.path.join(self.store.locks, "layer-%s.lock" % parse_digest(diff_id)[1]))

    # -- unpacking ------------------------------------------------------------------
    def pull(self, desc: Dict[str, Any], diff_id: str, opener: BlobOpener, received: Received = None) -> Dict[str, bool]:
        """Make both the blob and its unpacked layer present, in one pass over the bytes.

        The blob streams from ``opener`` (resuming a partial download), is written to
        its partial file and, at the same time, decompressed, hashed and extracted.
        Only when both digests verify do the blob and the layer get their names; ``received``
        is called between (see storage.layout.Received) when bytes were fetched.
        Returns what was done: ``{"fetched": bool, "unpacked": bool}``.
        """
        digest = desc["digest"]
        done = {"fetched": False, "unpacked": False}
        if self.has(diff_id) and self.store.has_blob(digest, desc.get("size")):
            return done
        self.ensure_dirs()
        with self.store.blob_lock(digest), self.lock(diff_id):
            have_blob = self.store.has_blob(digest, desc.get("size"))
            if self.has(diff_id):
                if not have_blob:
                    done["fetched"] = self.store.layout.ingest_blob(desc, opener, self.store.partial_path(digest),
                                                                    received=received)
                return done
            if have_blob:
                with self.store.open_blob(digest) as handle:
                    self._unpack(handle, desc, diff_id)
                done["unpacked"] = True
                return done
            partial = self.store.partial_path(digest)
            with BlobReceiver(desc, opener, partial, verify=False) as receiver:
                try:
                    self._unpack(receiver, desc, diff_id, commit=lambda: receiver.finish(received))
                except (DigestMismatchError, LayerError):
                    # Known-bad bytes, or a layer refused for its content: a resume could
                    # only fail the same way, so the download is not kept.
                    receiver.discard()
                    raise
            self.store.layout.adopt_blob(digest, partial)
            done["fetched"] = done["unpacked"] = True
            return done

    def unpack_file(self, desc: Dict[str, Any], diff_id: str, path: str) -> bool:
        """Unpack a layer blob that is a local file (a build's new layer) without storing the
        blob: the copy that names the image brings the blob, and finds the layer unpacked.
        True if it was unpacked now."""
        if self.has(diff_id):
            return False
        self.ensure_dirs()
        with self.lock(diff_id):
            if self.has(diff_id):
                return False
            with open(path, "rb") as handle:
                self._unpack(handle, desc, diff_id)
        return True

    def _unpack(self, stream: Any, desc: Dict[str, Any], diff_id: str, commit: Any = None) -> None:
        from .unpack import unpack_layer  # only a pull unpacks: a no-op run never loads the tar code
        import tempfile  # here: only an unpack needs it, not every run that opens the store
        temp = tempfile.mkdtemp(prefix=self._temp_prefix(diff_id), dir=self.root)
        try:
            diff = os.path.join(temp, "diff")
            os.mkdir(diff, 0o755)
            try:
                unpack_layer(stream, diff, media_type=desc.get("mediaType"), expected_blob_digest=desc["digest"],
                             expected_blob_size=desc.get("size"), expected_diff_id=diff_id,
                             max_size=self.max_size)
            except LayerError as err:
                raise LayerError("layer %s: %s" % (desc["digest"], err))
            if commit is not None:
                commit()
            atomic_write(os.path.join(temp, "link"), short_link(diff_id).encode(), 0o644)
            self.link(diff_id)
            os.rename(temp, self.layer_dir(diff_id))
            fsync_dir(self.root)
        except BaseException:
            remove_tree(temp)
            raise

    # -- removal and repair ----------------------------------------------------------
    def remove(self, diff_id: str) -> int:
        """Delete an unpacked layer; returns the bytes freed (apparent sizes)."""
        path = self.layer_dir(diff_id)
        if not os.path.isdir(path):
            return 0
        freed = tree_size(path)
        with self.lock(diff_id):
            link = os.path.join(self.root, self.link_path(diff_id))
            try:
                os.unlink(link)
            except FileNotFoundError:
                pass
            # Rename first: a half-deleted layer must never look complete.
            import tempfile  # here: see unpack
            doomed = tempfile.mkdtemp(prefix=self._temp_prefix(diff_id), dir=self.root)
            os.rename(path, os.path.join(doomed, "layer"))
            remove_tree(doomed)
        return freed

    @staticmethod
    def _temp_prefix(diff_id: str) -> str:
        return "%s%s-" % (TEMP_PREFIX, parse_digest(diff_id)[1])

    def clean_temporaries(self) -> int:
        """Remove ``.tmp-<hex>-*`` directories left by killed unpacks or removals. One is
        live only while its layer lock is held, so a lock we can take marks it stale."""
        removed = 0
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return 0
        for name in names:
            if not name.startswith(TEMP_PREFIX):
                continue
            hexpart = name[len(TEMP_PREFIX):].split("-", 1)[0]
            try:
                with self.lock("sha256:" + hexpart).acquire(timeout=0):
                    remove_tree(os.path.join(self.root, name))
                    removed += 1
            except (ValueError, UndockError):  # LockTimeout is an UndockError
                continue
        return removed


def tree_size(path: str) -> int:
    total = 0
    for directory, dirs, files in os.walk(path):
        for name in files + dirs:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                pass
    return total


def stored_diff_ids(store: Store, exclude: Iterable[str] = ()) -> List[str]:
    """Diff IDs listed by the config of every image index.json reaches (children of indexes
    too), not counting the entries named in ``exclude``."""
    def fetch(desc: Dict[str, Any]) -> Optional[Manifest]:
        if not store.has_blob(desc["digest"]):
            return None
        try:
            return parse_manifest(store.read_blob(desc["digest"]), desc.get("mediaType"), desc["digest"], validate=False)
        except UndockError:
            return None

    wanted: List[str] = []
    for reached in walk(store.roots(exclude), fetch):
        if reached.manifest is None or reached.manifest.is_index:
            continue
        try:
            wanted.extend(image_diff_ids(json.loads(store.read_blob(reached.manifest.config["digest"]))))
        except (UndockError, ValueError, KeyError):
            continue
    return wanted


def collect_layers(store: Store, keep: Iterable[str] = (), dry_run: bool = False,
                   exclude: Iterable[str] = ()) -> Dict[str, int]:
    """Remove unpacked layers that no image in index.json lists (less ``exclude``, as in
    Store.collect_garbage) and that are not in ``keep`` (the diff IDs live mounts use).
    Holds the GC lock, so a pull in progress (which holds it shared until its image is
    named) never loses a layer. Returns counts and bytes."""
    freed = {"layers": 0, "bytes": 0}
    layers = LayerStore(store)
    with store.collecting():
        wanted = set(keep) | set(stored_diff_ids(store, exclude))
        for diff_id in layers.present():
            if diff_id in wanted:
                continue
            freed["layers"] += 1
            if dry_run:
                freed["bytes"] += tree_size(layers.layer_dir(diff_id))
            else:
                freed["bytes"] += layers.remove(diff_id)
    return freed
