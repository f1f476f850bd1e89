# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Root filesystems of stored images, and who uses them.

A rootfs is an overlay mount of an image's unpacked layers (storage.layers): read-only
for inspection, or with a writable upper directory for containers. ``MountManager`` makes
and removes these mounts and keeps one record per mount under the runtime root, so that
removing an image can tell who uses it.

How the overlay is built
------------------------
* ``lowerdir`` lists the layers topmost first, by their short links (``l/<short>``),
  relative to ``<store>/overlay``. The kernel resolves relative paths against the cwd of
  the process calling mount(2), so the mount is done by ``mount(8)`` run with
  ``cwd=<store>/overlay`` (containers/storage re-executes itself after a chdir for the
  same reason; a child process keeps the engine's own cwd untouched and thread safe).
  12-character links keep about 270 layers within one page of mount options.
* The whole option string must fit in a page (4096 bytes) and overlayfs stacks at most
  500 lower layers. Past either limit, the bottom layers are merged into one directory
  (``merge_layers``: whiteouts applied, opaque directories honoured), cached under
  ``<store>/overlay-flat/<chain id>/diff`` (the OCI ChainID of the merged layers, so the
  same base is merged once for every image that has it) and named in the options by a
  short link ``l/<short>`` like a layer; the record carries a note.
* overlayfs needs two lower layers when it has no upper directory: a read-only mount of a
  one-layer image gets the empty directory ``<store>/overlay-flat/empty`` as second lower.
* Read-only mounts are always ``ro,nodev,nosuid``; writable ones are ``nodev,nosuid``
  unless the caller opts out (``nodev_nosuid=False``, for containers that need devices).

When overlay is unavailable
---------------------------
The first mount on a store probes, once per boot (cached under the runtime root), whether
an overlay with an upper directory can be mounted on the store's filesystem (it cannot
when the store itself sits on overlayfs, for example) and whether bind mounts work.
Without overlay, the rootfs is a copy: a merged copy of the layers (hardlinks are kept
between copies of the same layer, never to the store), the cached flat directory
bind-mounted ``ro,nodev,nosuid`` for read-only use, or a private copy for writable use.
Where nothing can be mounted at all, the copy is made in the target directory itself
(kind ``directory``, which cannot be read-only). ``backend`` (or the environment variable
``UNDOCK_MOUNT_BACKEND``) forces ``overlay``, ``copy`` or ``directory``.

Records: see ``mount_records``; the probe, flat directories and copies: see ``flat``;
merged copies: see ``merge``; mount(8): see ``mount_commands``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time

from ..common.errors import ImageInUseError, StoreError
from ..common.fileutil import atomic_write, makedirs_private
from ..model.digest import name_digest
from ..model.manifest import parse_manifest
from .holds import Hold, Holds
from .layer_dirs import LayerDirs
from .mount_commands import mount_overlay, overlay_data, umount
from .mount_records import MountError, MountRecord, MountRecords, mount_entry, mountinfo, process_start
from .peek import image_diff_ids, index_entry, original_manifest, read_blob
from .store import DEFAULT_RUN_ROOT, Store
from .trees import remove_tree

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

MAX_LOWERS = 500                 # overlayfs' OVL_MAX_STACK
BACKENDS = ("auto", "overlay", "copy", "directory")
KINDS = ("overlay", "flat", "copy", "directory")
BACKEND_ENV = "UNDOCK_MOUNT_BACKEND"
FLAT_DIR = "overlay-flat"
COPY_DIR = "overlay-copies"
SCRATCH_DIR = "overlay-mounts"
EMPTY = "empty"


class MountManager(MountRecords):
    """Mounts of images from one store, recorded under ``run_root``.

    ``backend``: ``auto`` (probe), ``overlay``, ``copy`` or ``directory``; default from
    ``UNDOCK_MOUNT_BACKEND``, else ``auto``. ``max_lowers`` and ``page_size`` bound one
    overlay mount (defaults: 500 and the system page size); lower them to force flattening.
    """

    def __init__(self, store: Store, run_root: Optional[str] = None, *, backend: Optional[str] = None,
                 max_lowers: int = MAX_LOWERS, page_size: Optional[int] = None):
        super().__init__(os.path.abspath(run_root or store.run_root or DEFAULT_RUN_ROOT), store.root)
        self.store = store
        self.layers = LayerDirs(store.root)
        self.flat_root = os.path.join(store.root, FLAT_DIR)
        self.backend = backend or os.environ.get(BACKEND_ENV) or "auto"
        if self.backend not in BACKENDS:
            raise MountError("mount backend must be one of %s, not %r" % (", ".join(BACKENDS), self.backend))
        if max_lowers < 1:
            raise MountError("max_lowers must be at least 1")
        self.max_lowers = max_lowers
        self.page_size = page_size or os.sysconf("SC_PAGE_SIZE")
        self.holds = Holds(store.root)

    # -- the image -------------------------------------------------------------------
    def image_layers(self, ref_name: str) -> Tuple[str, str, List[str]]:
        """(manifest digest as pulled, image ID, diff IDs base first) of a stored image."""
        # read as a container start found the image (image/instore.py), without the layout's code
        entry = index_entry(self.store.root, ref_name)
        if entry is None:
            raise StoreError("image %s is not in the store %s" % (ref_name, self.store.root))
        manifest = parse_manifest(read_blob(self.store.root, entry["digest"]), entry.get("mediaType"), entry["digest"],
                                  validate=False)
        if manifest.is_index:
            raise StoreError("%s in the store %s is an index, not an image" % (ref_name, self.store.root))
        config = json.loads(read_blob(self.store.root, manifest.config["digest"]))
        diff_ids = image_diff_ids(config)
        if len(diff_ids) != len(manifest.layers):
            raise StoreError("%s: the manifest has %d layers but the config lists %d" % (ref_name, len(manifest.layers),
                                                                                         len(diff_ids)))
        return original_manifest(entry)["digest"], manifest.config["digest"], diff_ids

    # -- capability probe --------------------------------------------------------------
    def capabilities(self) -> Dict[str, Any]:
        """``{"overlay": bool, "bind": bool, "reason": str}`` for this store, probed once per boot."""
        self._ensure_run_root()
        probes = os.path.join(self.run_root, "probes")
        makedirs_private(probes)
        path = os.path.join(probes, name_digest(self.store.root.encode())[:32] + ".json")
        device = os.stat(self.store.root).st_dev
        try:
            with open(path, "rb") as handle:
                cached = json.loads(handle.read())
            if cached.get("root") == self.store.root and cached.get("dev") == device:
                return cached
        except (OSError, ValueError):
            pass
        result = {"root": self.store.root, "dev": device}
        from .flat import probe  # here: once per boot and store; see flat.py
        result.update(probe(self))
        atomic_write(path, json.dumps(result).encode(), 0o600)
        return result

    def _backend(self) -> str:
        if self.backend != "auto":
            return self.backend
        caps = self.capabilities()
        if caps.get("overlay"):
            return "overlay"
        return "copy" if caps.get("bind") else "directory"

    # -- flat (merged) directories -------------------------------------------------------
    def _empty_dir(self) -> str:
        makedirs_private(self.flat_root)
        path = os.path.join(self.flat_root, EMPTY)
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            pass
        return path

    def unpacked_dir(self, diff_id: str) -> str:
        path = self.layers.diff_dir(diff_id)
        if not os.path.isdir(path):
            raise StoreError("layer %s is not unpacked in the store %s; run undock.oci.oci_image with "
                             "state=present to unpack it" % (diff_id, self.store.root))
        return path

    def _link(self, diff_id: str) -> str:
        self.unpacked_dir(diff_id)
        link = self.layers.link_path(diff_id)
        if not os.path.isdir(os.path.join(self.layers.root, link)):
            self.layers.ensure_dirs()
            self.layers.link(diff_id)
        return link

    def plan_lowers(self, diff_ids: Sequence[str], upper_dir: Optional[str] = None,
                    work_dir: Optional[str] = None) -> Tuple[int, Optional[str]]:
        """How many top layers stay separate lower directories (the others are merged into
        one), and the note that says so when some are merged."""
        count = len(diff_ids)
        if count == 0:
            return 0, None
        budget = self.page_size - 1  # the kernel copies one page, NUL included
        step = len(self.layers.link_path(diff_ids[0])) + 1  # "l/<short>" and its ":"; a flat one alike
        fixed = len(overlay_data([], upper_dir, work_dir)) - 1
        too_deep = count > self.max_lowers
        too_long = fixed + count * step > budget
        if not too_deep and not too_long:
            return count, None
        keep = max(0, min(self.max_lowers - 1, count - 1, (budget - fixed) // step - 1))
        why = []
        if too_deep:
            why.append("more than the %d lower layers one overlay mount may stack" % self.max_lowers)
        if too_long:
            why.append("more than fit in the %d-byte page of mount options" % self.page_size)
        if keep == 0:
            how = "all of them were merged into one cached directory (flattened)"
        else:
            how = "the bottom %d were merged into one cached directory, the top %d stay layers" % (count - keep, keep)
        return keep, "image has %d layers, %s: %s" % (count, " and ".join(why), how)

    # -- mounting --------------------------------------------------------------------
    def mount_image(self, ref_name: str, target: str, *, owner: str, read_only: bool = True,
                    transient: bool = False, upper_dir: Optional[str] = None, work_dir: Optional[str] = None,
                    nodev_nosuid: bool = True, create_target: bool = True,
                    remove_target: bool = False) -> MountRecord:
        """Mount the stored image ``ref_name`` at ``target`` and record it.

        Read-only mounts are ``ro,nodev,nosuid``. A writable mount uses ``upper_dir`` and
        ``work_dir`` (same filesystem, kept on unmount) when given, else a scratch upper
        directory in the store that unmount discards. ``transient`` mounts are undone by
        ``repair()`` once process ``os.getpid()`` is gone."""
        digest, image_id, diff_ids = self.image_layers(ref_name)
        return self._mount(ref_name, digest, image_id, diff_ids, target, owner=owner, read_only=read_only,
                           transient=transient, upper_dir=upper_dir, work_dir=work_dir, nodev_nosuid=nodev_nosuid,
                           create_target=create_target, remove_target=remove_target, stored=True)

    def mount_layers(self, label: str, diff_ids: Sequence[str], target: str, *, owner: str, upper_dir: str,
                     work_dir: str, transient: bool = True, nodev_nosuid: bool = True) -> MountRecord:
        """Mount unpacked layers that no stored image names (yet): a build's working container,
        whose committed layers are stacked on its base image's. ``label`` stands for the image
        in the record; the record keeps the layers from garbage collection while it lives."""
        return self._mount(label, "", "", list(diff_ids), target, owner=owner, read_only=False, transient=transient,
                           upper_dir=upper_dir, work_dir=work_dir, nodev_nosuid=nodev_nosuid, create_target=True,
                           remove_target=False, stored=False)

    def _mount(self, ref_name: str, digest: str, image_id: str, diff_ids: List[str], target: str, *, owner: str,
               read_only: bool, transient: bool, upper_dir: Optional[str], work_dir: Optional[str],
               nodev_nosuid: bool, create_target: bool, remove_target: bool, stored: bool) -> MountRecord:
        if read_only and (upper_dir or work_dir):
            raise MountError("a read-only mount takes no upper or work directory")
        if bool(upper_dir) != bool(work_dir):
            raise MountError("upper_dir and work_dir go together")
        if read_only:
            nodev_nosuid = True
        if not os.path.isabs(target):
            raise MountError("mount target %r must be an absolute path" % target)
        for diff_id in diff_ids:
            self.unpacked_dir(diff_id)
        if create_target and not os.path.isdir(target):
            os.makedirs(target, 0o755, exist_ok=True)
        target = os.path.realpath(target)
        if not os.path.isdir(target):
            raise MountError("mount target %s is not a directory" % target)
        record = MountRecord(target=target, store=self.store.root, image=ref_name, digest=digest, image_id=image_id,
                             diff_ids=list(diff_ids), owner=owner, kind="overlay", read_only=read_only,
                             transient=transient, pid=os.getpid(), pid_start=process_start(os.getpid()),
                             upper_dir=upper_dir, work_dir=work_dir, remove_target=remove_target,
                             nodev_nosuid=nodev_nosuid, id=os.urandom(8).hex(), created=time.time())
        backend = self._backend()
        with self.lock():
            existing = self._read(self._record_path(target))
            if existing is not None:
                if self.state(existing) == "live":
                    raise MountError("%s is already in use: %s is mounted there by %s"
                                     % (target, existing.image, existing.describe()))
                self._cleanup(existing)
            if backend != "directory" and mount_entry(target) is not None:
                raise MountError("%s is already a mount point (not an undock mount): refusing to mount over it"
                                 % target)
            # the image may have been removed while we waited for the lock
            if stored and self.image_layers(ref_name)[0] != digest:
                raise MountError("image %s changed while it was being mounted; try again" % ref_name)
            try:
                if backend == "overlay":
                    self._mount_overlay(record)
                else:
                    from .flat import mount_copy  # here: overlay mounts, the usual case, never copy
                    mount_copy(self, record, backend)
            except BaseException:
                self._remove_private(record)
                raise
            if record.kind != "directory":
                entry = mount_entry(target)
                record.mount_id = entry["id"] if entry else None
            try:
                self._write(record)
            except BaseException:
                self._unmount_record(record, lazy=True)
                raise
        return record

    def _mount_overlay(self, record: MountRecord) -> None:
        if not record.read_only and not record.upper_dir:
            scratch = self.private_dir(SCRATCH_DIR, record)
            record.upper_dir, record.work_dir = os.path.join(scratch, "upper"), os.path.join(scratch, "work")
            os.mkdir(record.upper_dir, 0o755)
            os.mkdir(record.work_dir, 0o700)
        keep, note = self.plan_lowers(record.diff_ids, record.upper_dir, record.work_dir)
        top = list(reversed(record.diff_ids))[:keep]
        lowers = [self._link(d) for d in top]
        if keep < len(record.diff_ids) or not record.diff_ids:
            from .flat import flat_dir, flat_link_in  # here: only an image deeper than one mount's limit
            chain = flat_dir(self, record.diff_ids[:len(record.diff_ids) - keep])[0]
            record.flat = chain
            lowers.append(flat_link_in(self, chain))
            record.kind = "flat" if record.diff_ids else "overlay"
            record.note = note
        if len(lowers) == 1 and not record.upper_dir:
            lowers.append(os.path.relpath(self._empty_dir(), self.layers.root))
        record.lowers = lowers
        self.layers.ensure_dirs()
        mount_overlay(record.target, lowers, self.layers.root, read_only=record.read_only,
                      nodev_nosuid=record.nodev_nosuid, upper_dir=record.upper_dir, work_dir=record.work_dir)

    def private_dir(self, kind: str, record: MountRecord) -> str:
        base = os.path.join(self.store.root, kind)
        makedirs_private(base)
        path = os.path.join(base, record.id)
        os.mkdir(path, 0o700)
        record.private.append(path)
        return path

    def _remove_private(self, record: MountRecord) -> None:
        for path in record.private:
            remove_tree(path)
        record.private = []

    # -- unmounting --------------------------------------------------------------------
    def unmount(self, target: str, lazy: bool = False) -> Optional[MountRecord]:
        """Undo our mount at ``target``; None when there is none. ``lazy`` detaches a busy mount."""
        target = os.path.realpath(target)
        with self.lock():
            record = self._read(self._record_path(target))
            if record is None or record.store != self.store.root:
                return None
            self._unmount_record(record, lazy)
            return record

    def _unmount_record(self, record: MountRecord, lazy: bool = False) -> None:
        if record.kind == "directory":
            if os.path.isdir(record.target):
                for name in os.listdir(record.target):
                    remove_tree(os.path.join(record.target, name))
        elif mount_entry(record.target, record.mount_id) is not None:
            try:
                umount(record.target)
            except MountError as err:
                if not lazy:
                    raise MountError("cannot unmount %s (%s): %s" % (record.target, record.image, err))
                umount(record.target, lazy=True)
        self._cleanup(record)

    def _cleanup(self, record: MountRecord) -> None:
        """Drop the record and what was made for it (scratch and copy directories)."""
        self._remove_private(record)
        if record.remove_target and mount_entry(record.target) is None:
            with contextlib.suppress(OSError):
                os.rmdir(record.target)
        self._drop(record)

    def repair(self) -> List[str]:
        """Clean records whose mount is gone and unmount mounts whose transient owner died.
        Returns what was done."""
        done: List[str] = []
        if not os.path.isdir(self.records_dir):
            return done
        with self.lock():
            table = mountinfo()
            for record in self.all_records():
                state = self.state(record, table)
                if state == "live":
                    continue
                if state == "orphaned":
                    self._unmount_record(record, lazy=True)
                    done.append("unmounted %s of %s: its owner %s (pid %d) is gone"
                                % (record.target, record.image, record.owner, record.pid))
                else:
                    self._cleanup(record)
                    done.append("dropped the record of %s at %s: it is no longer mounted" % (record.image, record.target))
        return done

    # -- holds and image removal -------------------------------------------------------
    def hold(self, ref_name: str, owner: str, path: str) -> Hold:
        """Keep ``ref_name`` in the store for ``owner`` while ``path`` exists (holds.py)."""
        digest, image_id, diff_ids = self.image_layers(ref_name)
        hold = Hold(owner=owner, path=os.path.abspath(path), image=ref_name, digest=digest, image_id=image_id,
                    diff_ids=list(diff_ids))
        self.holds.put(hold)
        return hold

    def unhold(self, owner: str) -> None:
        self.holds.drop(owner)

    def diff_ids_in_use(self) -> Set[str]:
        """Layers that live mounts and holds need (a held image's tag may have moved on)."""
        return super().diff_ids_in_use() | {d for h in self.holds.live() for d in h.diff_ids}

    def image_users(self, image: str) -> Tuple[List[MountRecord], List[Hold]]:
        """Who uses ``image`` (a store name, manifest digest or image ID): its live mounts and
        the holds on it. What image removal and prune both ask."""
        return self.users(image), [h for h in self.holds.live() if h.matches(image)]

    @staticmethod
    def describe_users(mounts: Sequence[MountRecord], holds: Sequence[Hold]) -> str:
        return "; ".join(["mounted by " + u.describe() for u in mounts] + ["held by " + h.describe() for h in holds])

    def release(self, ref_name: str, force: bool = False, dry_run: bool = False) -> List[str]:
        """Before removing ``ref_name``: raise ImageInUseError naming its users, or with
        ``force`` unmount them (lazily if busy). A hold (a container) is never forced: its
        owner must go first. Returns the actions taken (or, with ``dry_run``, that would be)."""
        users, holds = self.image_users(ref_name)
        if holds:
            raise ImageInUseError("image %s is in use and was not removed: %s; remove %s first (force only unmounts)"
                                  % (ref_name, self.describe_users(users, holds),
                                     ", ".join(sorted({h.owner for h in holds}))))
        if not users:
            return []
        if not force:
            raise ImageInUseError("image %s is in use and was not removed: %s; unmount it first, or use force=true"
                                  % (ref_name, self.describe_users(users, [])))
        actions = []
        for user in users:
            if not dry_run:
                self._unmount_record(user, lazy=True)
            actions.append("%s %s at %s (used by %s)" % ("would unmount" if dry_run else "unmounted", ref_name,
                                                         user.target, user.owner))
        return actions

    def collect_cache(self, dry_run: bool = False) -> int:
        """Remove merged (flat) directories that no stored image and no live mount can use."""
        from .flat import collect_cache  # here: only image removal and prune collect
        return collect_cache(self, dry_run)
