# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mounting images for inspection (oci_mount, atomic mount) and scanning them from the
host (oci_scan, atomic scan): ImageService plus storage.mounts, with check mode."""

from __future__ import annotations

import os
import re
import tempfile

from ..common.errors import StoreError, UndockError
from ..common.fileutil import makedirs_private
from ..scan.scanners import scan
from ..storage.mounts import MountError, MountManager, MountRecord
from .record import describe_image
from .resolve import ResolvedImage
from .ops import ImageService
from .outcome import Outcome

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

MOUNT_OWNER = "oci_mount"
SCAN_OWNER = "oci_scan"


def view(record: Optional[MountRecord]) -> Dict[str, Any]:
    """What ``--diff`` shows of a mount point."""
    if record is None:
        return {"mounted": False, "name": None, "digest": None, "read_only": None}
    return {"mounted": True, "name": record.image, "digest": record.digest, "read_only": record.read_only}


def describe(record: MountRecord) -> str:
    return "%s at %s (%s, %s)" % (record.image, record.target, record.kind,
                                  "read-only" if record.read_only else "writable")


def mount_summary(target: str, ref_name: str, image: ResolvedImage, read_only: bool,
                  record: Optional[MountRecord] = None) -> Dict[str, Any]:
    """The ``mount`` return value (in check mode, of the mount that would be made)."""
    return {"path": target, "name": ref_name, "digest": image.manifest.digest,
            "kind": record.kind if record else None, "read_only": read_only,
            "layers": [d["digest"] for d in image.manifest.layers], "note": record.note if record else None}


def check_mount_point(service: ImageService, target: str) -> None:
    """Refuse a mount point inside the store or the runtime root, or one that holds them:
    a mount there would hide or loop over the content it is made of."""
    for what, root in (("store", service.storage_root), ("runtime root", service.run_root)):
        root = os.path.realpath(root)
        if target == root or target.startswith(root.rstrip("/") + "/"):
            raise MountError("path %s is inside the %s %s: choose a directory outside it" % (target, what, root))
        if root.startswith(target.rstrip("/") + "/"):
            raise MountError("path %s holds the %s %s: a mount there would hide it" % (target, what, root))


def ensure_mount(service: ImageService, state: str, path: str, name: Optional[str] = None,
                 read_only: bool = True) -> Outcome:
    """oci_mount: make ``path`` hold a mount of image ``name`` (``state`` mounted) or no mount
    of ours (unmounted). The Outcome's ``values`` hold ``mount`` when mounted."""
    check_mode = service.check_mode
    target = os.path.realpath(path)
    check_mount_point(service, target)
    store = service.store(create=False)
    ref_name = image = None
    if name:
        ref_name = str(service.local_name(name))
        image = service.local_image(ref_name) if store is not None else None
    mounts = MountManager(store, service.run_root) if store is not None else None
    current = mounts.mounted(target) if mounts is not None else None
    outcome = Outcome(before=view(current), after=view(current))

    if state == "unmounted":
        if current is None:
            if mounts is not None and mounts.foreign_mount(target):
                raise MountError("%s is a mount point, but not one made by undock.oci: leaving it alone" % target)
            return outcome
        if ref_name and current.image != ref_name:
            outcome.warnings.append("%s holds %s, not %s: left mounted" % (target, current.image, ref_name))
            return outcome
        if current.owner != MOUNT_OWNER:
            raise MountError("%s is used by %s, not by oci_mount: not unmounting it" % (target, current.describe()))
        outcome.changed = True
        outcome.after = view(None)
        if check_mode:
            outcome.actions.append("would unmount %s" % describe(current))
            return outcome
        mounts.unmount(target)
        outcome.actions.append("unmounted %s" % describe(current))
        return outcome

    if image is None:
        raise StoreError("image %s is not in the store %s: pull it first with undock.oci.oci_image"
                         % (ref_name, service.storage_root))
    outcome.image = describe_image(ref_name, image)
    outcome.after = {"mounted": True, "name": ref_name, "digest": image.manifest.digest, "read_only": read_only}
    if current is not None and view(current) == outcome.after:
        outcome.values["mount"] = mount_summary(target, ref_name, image, read_only, current)
        return outcome
    if current is not None and current.owner != MOUNT_OWNER:
        raise MountError("%s is used by %s: not remounting it" % (target, current.describe()))
    if current is None and mounts.foreign_mount(target):
        raise MountError("%s is already a mount point (not an undock mount): refusing to mount over it" % target)
    outcome.changed = True
    if check_mode:
        if current is not None:
            outcome.actions.append("would unmount %s" % describe(current))
        outcome.actions.append("would mount %s at %s (%s)" % (ref_name, target,
                                                              "read-only" if read_only else "writable"))
        outcome.values["mount"] = mount_summary(target, ref_name, image, read_only)
        return outcome
    # unpack any layer that is missing (a store written before layers were kept)
    outcome.actions.extend(service.present(ref_name, pull="never").actions)
    with mounts.lock():
        outcome.actions.extend(mounts.repair())
        current = mounts.mounted(target)
        if current is not None:
            mounts.unmount(target)
            outcome.actions.append("unmounted %s" % describe(current))
        record = mounts.mount_image(ref_name, target, owner=MOUNT_OWNER, read_only=read_only)
    outcome.actions.append("mounted %s" % describe(record) + (": %s" % record.note if record.note else ""))
    outcome.after = view(record)
    outcome.values["mount"] = mount_summary(target, ref_name, image, read_only, record)
    return outcome


def scan_image(service: ImageService, name: str, scanners: List[str], command: Optional[str] = None,
               command_timeout: Optional[float] = None) -> Outcome:
    """oci_scan: mount ``name`` read-only under the runtime root, run the scanners on the
    host, and unmount, also on failure. The Outcome's ``values`` hold ``mount`` and ``report``."""
    if command_timeout is not None and command_timeout <= 0:
        raise UndockError("command_timeout must be a positive number of seconds, not %s" % command_timeout)
    check_mode = service.check_mode
    ref_name = str(service.local_name(name))
    store = service.store(create=False)
    image = service.local_image(ref_name) if store is not None else None
    if image is None:
        raise StoreError("image %s is not in the store %s: pull it first with undock.oci.oci_image"
                         % (ref_name, service.storage_root))
    scanners = list(scanners)
    if command and "command" not in scanners:
        scanners.append("command")
    outcome = Outcome(image=describe_image(ref_name, image))
    if not check_mode:
        outcome.actions.extend(service.present(ref_name, pull="never").actions)
    mounts = MountManager(store, service.run_root)
    outcome.actions.extend(mounts.repair())
    scan_root = os.path.join(mounts.run_root, "scan")
    makedirs_private(scan_root)
    target = tempfile.mkdtemp(prefix=re.sub(r"[^A-Za-z0-9_.-]+", "_", ref_name)[-60:] + "-", dir=scan_root)
    record = None
    try:
        record = mounts.mount_image(ref_name, target, owner=SCAN_OWNER, read_only=True, transient=True,
                                    create_target=False, remove_target=True)
        outcome.values["mount"] = {"kind": record.kind, "note": record.note}
        outcome.actions.append("scanned %s with %s" % (ref_name, ", ".join(scanners)))
        outcome.values["report"] = scan(target, scanners, command=command, timeout=command_timeout)
    finally:
        if record is not None:
            mounts.unmount(target, lazy=True)
        if os.path.isdir(target):
            try:
                os.rmdir(target)
            except OSError:
                pass  # still mounted: repair() will find it
    return outcome
