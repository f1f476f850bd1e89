# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A working container: a base image's layers (or none, for ``scratch``) under a private
upper directory, mounted as one rootfs that steps change and commits turn into layers.

Layout::

    <store>/builds/<id>/upper-N, work-N   the overlay's upper and work directories (N: layer
                                          being made), on the store's filesystem as overlay needs
    <store>/builds/<id>/blobs/<hex>       the layer blobs this build made, until the image is copied
    <run_root>/builds/<id>/rootfs         the mount point (storage.mounts, transient: a killed
                                          build's mount is undone by the next repair)
    <store>/locks/build-<id>.lock         held while the build runs; a directory whose lock can
                                          be taken is what a killed build left, and is removed

A commit writes the upper directory's diff as a layer blob, unpacks that blob into the store's
unpacked layers (storage.layers: what a pull of the image would make), and mounts again with the
new layer below a fresh upper directory, so a later step sees exactly what the image will hold.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid

from ..common.errors import UndockError
from ..common.fileutil import makedirs_private
from ..common.locks import FileLock
from ..storage.layers import LayerStore
from ..storage.mounts import MountManager
from ..storage.store import Store
from ..storage.trees import remove_tree
from .errors import BuildError
from .layerdiff import OPAQUE_XATTR, walk_tree
from .layers import LayerBlob, write_layer

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

BUILDS_DIR = "builds"
OWNER = "oci_build"
KEPT_FILE = "kept.json"


class BaseImage:
    """What a build starts from: an image of the store, or nothing (``scratch``)."""

    __slots__ = ("name", "digest", "config", "layers", "diff_ids")

    def __init__(self, name: Optional[str] = None, digest: Optional[str] = None, config: Optional[Dict[str, Any]] = None,
                 layers: Optional[List[Dict[str, Any]]] = None, diff_ids: Optional[List[str]] = None):
        self.name = name
        self.digest = digest
        self.config = {} if config is None else config
        self.layers = [] if layers is None else layers
        self.diff_ids = [] if diff_ids is None else diff_ids


def clean_stale_builds(store: Store) -> int:
    """Remove build directories of builds that are no longer running; returns how many."""
    root = os.path.join(store.root, BUILDS_DIR)
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return 0
    removed = 0
    for name in names:
        if os.path.exists(os.path.join(root, name, KEPT_FILE)):
            continue  # a kept working container (build.kept): it lives between processes
        try:
            with FileLock(os.path.join(store.locks, "build-%s.lock" % name)).acquire(timeout=0):
                remove_tree(os.path.join(root, name))
                removed += 1
        except UndockError:  # LockTimeout: that build is running
            continue
    return removed


def _copied_up(upper: str, lowers: List[str], rel: str) -> bool:
    for name in os.listdir(os.path.join(upper, rel)):
        path = os.path.join(rel, name)
        st = os.lstat(os.path.join(upper, path))
        if not stat.S_ISDIR(st.st_mode) or _opaque(os.path.join(upper, path)):
            return False
        below = next((os.lstat(os.path.join(lower, path)) for lower in lowers
                      if os.path.lexists(os.path.join(lower, path))), None)
        if below is None or not stat.S_ISDIR(below.st_mode) or \
                (below.st_mode, below.st_uid, below.st_gid) != (st.st_mode, st.st_uid, st.st_gid):
            return False
        if not _copied_up(upper, lowers, path):
            return False
    return True


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


class WorkingContainer:
    """See the module docstring. Use as a context manager: leaving unmounts and removes
    what the build made (its layers stay unpacked in the store)."""

    def __init__(self, store: Store, run_root: str, base: BaseImage, label: str, container_id: Optional[str] = None):
        self.store = store
        self.run_root = os.path.abspath(run_root)
        self.base = base
        self.label = label
        self.id = container_id or uuid.uuid4().hex[:16]
        self.kept = container_id is not None  # a kept one's mount outlives the process that made it
        self.dir = os.path.join(store.root, BUILDS_DIR, self.id)
        self.blob_dir = os.path.join(self.dir, "blobs")
        self.rootfs = os.path.join(self.run_root, BUILDS_DIR, self.id, "rootfs")
        self.layers: List[Dict[str, Any]] = [dict(d) for d in base.layers]
        self.diff_ids: List[str] = list(base.diff_ids)
        self.blobs: Dict[str, str] = {}      # digest -> path of the blobs this build made
        self.mounts = MountManager(store, self.run_root)
        self._generation = 0
        self._lock: Optional[FileLock] = None
        self._mounted = False

    # -- life --------------------------------------------------------------------------
    def __enter__(self) -> "WorkingContainer":
        makedirs_private(os.path.join(self.store.root, BUILDS_DIR))
        self._lock = FileLock(os.path.join(self.store.locks, "build-%s.lock" % self.id))
        self._lock.__enter__()
        os.mkdir(self.dir, 0o700)
        os.mkdir(self.blob_dir, 0o700)
        makedirs_private(os.path.dirname(self.rootfs))
        self.mount()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.unmount()
        finally:
            try:
                remove_tree(self.dir)
                remove_tree(os.path.dirname(self.rootfs))
            finally:
                if self._lock is not None:
                    self._lock.__exit__(None, None, None)
                    self._lock = None
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(self.store.locks, "build-%s.lock" % self.id))

    @property
    def upper(self) -> str:
        return os.path.join(self.dir, "upper-%d" % self._generation)

    def mount(self) -> str:
        """Mount the rootfs (the committed layers under the current upper directory); its path."""
        if self._mounted:
            return self.rootfs
        work = os.path.join(self.dir, "work-%d" % self._generation)
        for path, mode in ((self.upper, 0o755), (work, 0o700)):
            if not os.path.isdir(path):
                os.mkdir(path, mode)
        os.chmod(self.upper, 0o755)  # the rootfs's / takes the upper directory's mode
        self.mounts.repair()
        self.mounts.mount_layers(self.label, self.diff_ids, self.rootfs, owner="%s:%s" % (OWNER, self.id),
                                 upper_dir=self.upper, work_dir=work, nodev_nosuid=False,
                                 transient=not self.kept)
        self._mounted = True
        return self.rootfs

    def unmount(self) -> None:
        if self._mounted:
            self.mounts.unmount(self.rootfs, lazy=True)
            self._mounted = False

    # -- kept containers (build.kept) ---------------------------------------------------
    def to_state(self) -> Dict[str, Any]:
        return {"id": self.id, "label": self.label, "base": {name: getattr(self.base, name) for name in BaseImage.__slots__}, "layers": self.layers,
                "diff_ids": self.diff_ids, "blobs": self.blobs, "generation": self._generation}

    @classmethod
    def from_state(cls, store: Store, run_root: str, state: Dict[str, Any]) -> "WorkingContainer":
        container = cls(store, run_root, BaseImage(**state["base"]), state["label"], container_id=state["id"])
        container.layers = [dict(d) for d in state["layers"]]
        container.diff_ids = list(state["diff_ids"])
        container.blobs = dict(state["blobs"])
        container._generation = int(state["generation"])
        container._mounted = os.path.ismount(container.rootfs)
        return container

    def create_dirs(self) -> None:
        """The directories of a kept container (``__enter__`` makes them for the others)."""
        makedirs_private(os.path.join(self.store.root, BUILDS_DIR))
        os.mkdir(self.dir, 0o700)
        os.mkdir(self.blob_dir, 0o700)
        makedirs_private(os.path.dirname(self.rootfs))

    def remove_dirs(self) -> None:
        remove_tree(self.dir)
        remove_tree(os.path.dirname(self.rootfs))

    # -- commits -----------------------------------------------------------------------
    def has_changes(self) -> bool:
        """Whether the upper directory holds anything (a change since the last commit)."""
        return bool(os.listdir(self.upper))

    def only_copied_up(self) -> bool:
        """Whether the upper directory holds nothing but directories that overlay copied up
        unchanged: the parents of a command's mount-point stubs that were removed again (runc's
        /etc/hosts leaves /etc there), which are no change of the image."""
        lowers = [LayerStore(self.store).diff_dir(d) for d in reversed(self.diff_ids)]
        return _copied_up(self.upper, lowers, "")

    def commit_layer(self, media_type: str, compression: str, epoch: Optional[int],
                     skip_copied_up: bool = False) -> Optional[LayerBlob]:
        """The changes since the last commit as a new layer (None when there are none, or with
        ``skip_copied_up`` when there are only directories copied up unchanged); the rootfs is
        mounted again with it below a fresh upper directory."""
        if not self.has_changes() or (skip_copied_up and self.only_copied_up()):
            return None
        self.unmount()
        blob = write_layer(walk_tree(self.upper, whiteouts=True, epoch=epoch), self.blob_dir, media_type, compression)
        self._add(blob)
        remove_tree(self.upper)
        remove_tree(os.path.join(self.dir, "work-%d" % self._generation))
        self._generation += 1
        self.mount()
        return blob

    def add_layer(self, desc: Dict[str, Any], diff_id: str) -> None:
        """Stack a layer that is already unpacked in the store (a cached one) on the rootfs."""
        if self.has_changes():
            raise BuildError("internal error: a cached layer cannot go over uncommitted changes")
        self.unmount()
        remove_tree(self.upper)
        remove_tree(os.path.join(self.dir, "work-%d" % self._generation))
        self._generation += 1
        self.layers.append(dict(desc))
        self.diff_ids.append(diff_id)
        self.mount()

    def stack_tree(self, tree: str, media_type: str, compression: str, epoch: Optional[int]) -> LayerBlob:
        """``tree`` alone (no diff against the layers below: COPY --link) as a new layer over the
        committed ones. Its names are checked as an upper directory's are (no ``.wh.`` file)."""
        if self.has_changes():
            raise BuildError("internal error: a linked layer cannot go over uncommitted changes")
        blob = write_layer(walk_tree(tree, whiteouts=True, epoch=epoch), self.blob_dir, media_type, compression)
        self.unmount()
        remove_tree(self.upper)
        remove_tree(os.path.join(self.dir, "work-%d" % self._generation))
        self._generation += 1
        self._add(blob)
        self.mount()
        return blob

    def squash(self, media_type: str, compression: str, epoch: Optional[int]) -> LayerBlob:
        """The whole rootfs as one layer, which replaces every layer below it."""
        blob = write_layer(walk_tree(self.rootfs, whiteouts=False, epoch=epoch), self.blob_dir, media_type,
                           compression)
        self.layers, self.diff_ids = [], []
        self._add(blob)
        return blob

    def _add(self, blob: LayerBlob) -> None:
        try:
            LayerStore(self.store).unpack_file(blob.desc, blob.diff_id, blob.path)
        except UndockError as err:
            raise BuildError("the new layer %s cannot be unpacked: %s" % (blob.desc["digest"], err))
        self.blobs[blob.desc["digest"]] = blob.path
        self.layers.append(blob.desc)
        self.diff_ids.append(blob.diff_id)
