# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mounting images for inspection (oci_mount, atomic mount) and scanning them from the
host (oci_scan, atomic scan): ImageService plus storage.mounts, with check mode."""

from __future__ import annotations

import os
import re
import tempfile
from typing import Any, Dict, List, Optional

from ..common.errors import StoreError
from ..common.fileutil import makedirs_private
from ..scan.scanners import scan
from ..storage.mounts import MountError, MountManager, MountRecord
from .ops import ImageService

MOUNT_OWNER = "oci_mount"


def view(record):
    if record is None:
        return {"mounted": False, "image": None, "digest": None, "read_only": None}
    return {"mounted": True, "image": record.image, "digest": record.digest, "read_only": record.read_only}


def describe(record: MountRecord) -> str:
    return "%s at %s (%s, %s)" % (record.image, record.target, record.kind,
                                  "read-only" if record.read_only else "writable")


def ensure_mount(service: ImageService, state: str, path: str, name: Optional[str] = None,
                 read_only: bool = True) -> Dict[str, Any]:
    """oci_mount: make ``path`` hold a mount of image ``name`` (``state`` mounted) or no mount
    of ours (unmounted). Returns changed, actions, diff and ``mount``; warnings in ``warnings``."""
    check_mode = service.check_mode
    target = os.path.realpath(path)
    store = service.store(create=False)
    ref_name = image = None
    if name:
        ref_name = str(service.local_name(name))
        image = service.local_image(ref_name) if store is not None else None
    mounts = MountManager(store, service.run_root) if store is not None else None
    current = mounts.mounted(target) if mounts is not None else None
    result: Dict[str, Any] = dict(changed=False, actions=[], warnings=[],
                                  diff=dict(before=view(current), after=view(current)))

    if state == "unmounted":
        if current is None:
            if mounts is not None and mounts.foreign_mount(target):
                raise MountError("%s is a mount point, but not one made by undock.oci: leaving it alone" % target)
            return result
        if ref_name and current.image != ref_name:
            result["warnings"].append("%s holds %s, not %s: left mounted" % (target, current.image, ref_name))
            return result
        if current.owner != MOUNT_OWNER:
            raise MountError("%s is used by %s, not by oci_mount: not unmounting it" % (target, current.describe()))
        result.update(changed=True)
        result["diff"]["after"] = view(None)
        if check_mode:
            result["actions"].append("would unmount %s" % describe(current))
            return result
        mounts.unmount(target)
        result["actions"].append("unmounted %s" % describe(current))
        return result

    if image is None:
        raise StoreError("image %s is not in the store %s: pull it first with undock.oci.oci_image"
                         % (ref_name, service.storage_root))
    wanted = {"mounted": True, "image": ref_name, "digest": image.manifest.digest, "read_only": read_only}
    result["diff"]["after"] = wanted
    if current is not None and view(current) == wanted:
        result["mount"] = current.summary()
        return result
    if current is not None and current.owner != MOUNT_OWNER:
        raise MountError("%s is used by %s: not remounting it" % (target, current.describe()))
    if current is None and mounts.foreign_mount(target):
        raise MountError("%s is already a mount point (not an undock mount): refusing to mount over it" % target)
    result["changed"] = True
    if check_mode:
        if current is not None:
            result["actions"].append("would unmount %s" % describe(current))
        result["actions"].append("would mount %s at %s (%s)" % (ref_name, target,
                                                                "read-only" if read_only else "writable"))
        result["mount"] = {"path": target, "image": ref_name, "digest": image.manifest.digest, "kind": None,
                           "read_only": read_only, "layers": len(image.manifest.layers), "note": None}
        return result
    # unpack any layer that is missing (a store written before layers were kept)
    result["actions"].extend(service.present(ref_name, pull="never").actions)
    with mounts.lock():
        result["actions"].extend(mounts.repair())
        current = mounts.mounted(target)
        if current is not None:
            mounts.unmount(target)
            result["actions"].append("unmounted %s" % describe(current))
        record = mounts.mount_image(ref_name, target, owner=MOUNT_OWNER, read_only=read_only)
    result["actions"].append("mounted %s" % describe(record) + (": %s" % record.note if record.note else ""))
    result["diff"]["after"] = view(record)
    result["mount"] = record.summary()
    return result


SCAN_OWNER = "oci_scan"


def scan_image(service: ImageService, name: str, scanners: List[str], command: Optional[str] = None,
               command_timeout: Optional[int] = None) -> Dict[str, Any]:
    """oci_scan: mount ``name`` read-only under the runtime root, run the scanners on the
    host, and unmount, also on failure. Returns actions, image, mount and ``report``."""
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
    result: Dict[str, Any] = dict(changed=False, actions=[], image={"name": ref_name, "digest": image.manifest.digest})
    if not check_mode:
        result["actions"].extend(service.present(ref_name, pull="never").actions)
    mounts = MountManager(store, service.run_root)
    result["actions"].extend(mounts.repair())
    scan_root = os.path.join(mounts.run_root, "scan")
    makedirs_private(scan_root)
    target = tempfile.mkdtemp(prefix=re.sub(r"[^A-Za-z0-9_.-]+", "_", ref_name)[-60:] + "-", dir=scan_root)
    record = None
    try:
        record = mounts.mount_image(ref_name, target, owner=SCAN_OWNER, read_only=True, transient=True,
                                    create_target=False, remove_target=True)
        result["mount"] = {"kind": record.kind, "note": record.note}
        result["actions"].append("scanned %s with %s" % (ref_name, ", ".join(scanners)))
        result["report"] = scan(target, scanners, command=command, timeout=command_timeout)
    finally:
        if record is not None:
            mounts.unmount(target, lazy=True)
        if os.path.isdir(target):
            try:
                os.rmdir(target)
            except OSError:
                pass  # still mounted: repair() will find it
    return result
