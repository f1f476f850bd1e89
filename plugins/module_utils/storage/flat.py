# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What storage.mounts does when one overlay mount of the layers cannot serve (see its
docstring): the probe, once per boot and store, of what can be mounted; the cached merge
(flat directory) of the bottom layers of an image too deep for one mount; the copies that
stand in for the mount where overlay is unavailable; and the collection of flat
directories. A container start whose overlay mount serves never loads this file, which a
module would otherwise compile on every run."""

from __future__ import annotations

import contextlib
import hashlib
import os

from ..common.errors import StoreError
from ..common.fileutil import makedirs_private, point_symlink
from ..common.locks import FileLock
from .layer_dirs import LINK_DIR, short_link
from .mount_commands import bind_mount, mount_overlay, umount
from .mount_records import MountError, MountRecord
from .mounts import COPY_DIR, EMPTY, FLAT_DIR
from .peek import REF_NAME
from .trees import remove_tree

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Sequence, Tuple
    from .mounts import MountManager


def chain_id(diff_ids: Sequence[str]) -> str:
    """OCI ChainID of layers (base first), as hex: sha256(parent chain + " " + diff ID)."""
    if not diff_ids:
        return hashlib.sha256(b"").hexdigest()
    chain = diff_ids[0]
    for diff_id in diff_ids[1:]:
        chain = "sha256:" + hashlib.sha256(("%s %s" % (chain, diff_id)).encode()).hexdigest()
    return chain.split(":", 1)[1]


def all_chain_ids(diff_ids: Sequence[str]) -> List[str]:
    """Chain IDs of every base prefix of ``diff_ids``, in the same order."""
    result = []
    chain = None
    for diff_id in diff_ids:
        chain = diff_id if chain is None else "sha256:" + hashlib.sha256(("%s %s" % (chain, diff_id)).encode()).hexdigest()
        result.append(chain.split(":", 1)[1])
    return result


def flat_link(chain: str) -> str:
    """``l/<short>`` naming the flat directory of a chain id (derived, like a layer's)."""
    return os.path.join(LINK_DIR, short_link("flat:" + chain))


def probe(mounts: MountManager) -> Dict[str, Any]:
    """Whether overlay (with an upper directory) and bind mounts work for the store of ``mounts``."""
    if os.geteuid() != 0:
        return {"overlay": False, "bind": False, "reason": "mounting needs root"}
    makedirs_private(mounts.store.tmp)
    import tempfile  # here: only a probe or a merge makes a temporary directory
    work = tempfile.mkdtemp(prefix=".tmp-probe-", dir=mounts.store.tmp)
    try:
        dirs = {n: os.path.join(work, n) for n in ("l1", "l2", "upper", "work", "merged")}
        for path in dirs.values():
            os.mkdir(path, 0o700)
        with open(os.path.join(dirs["l1"], "f"), "w"):
            pass
        result: Dict[str, Any] = {"overlay": False, "bind": False, "reason": ""}
        try:
            mount_overlay(dirs["merged"], ["l2", "l1"], work, read_only=False, nodev_nosuid=True,
                          upper_dir=dirs["upper"], work_dir=dirs["work"])
            try:
                result["overlay"] = os.path.exists(os.path.join(dirs["merged"], "f"))
            finally:
                umount(dirs["merged"], lazy=True)
        except MountError as err:
            result["reason"] = "overlay: %s" % err
        try:
            bind_mount(dirs["l1"], dirs["merged"], read_only=True, nodev_nosuid=True)
            umount(dirs["merged"], lazy=True)
            result["bind"] = True
        except MountError as err:
            result["reason"] = (result["reason"] + "; " if result["reason"] else "") + "bind: %s" % err
        return result
    finally:
        remove_tree(work)


def flat_dir(mounts: MountManager, diff_ids: Sequence[str]) -> Tuple[str, str]:
    """(chain id, directory) of the merge of ``diff_ids`` (base first), made once and cached."""
    chain = chain_id(diff_ids)
    final = os.path.join(mounts.flat_root, chain)
    diff = os.path.join(final, "diff")
    if os.path.isdir(diff):
        return chain, diff
    makedirs_private(mounts.flat_root)
    with FileLock(os.path.join(mounts.store.locks, "flat-%s.lock" % chain)):
        if os.path.isdir(diff):
            return chain, diff
        import tempfile  # here: see probe
        temp = tempfile.mkdtemp(prefix=".tmp-%s-" % chain, dir=mounts.flat_root)
        try:
            os.mkdir(os.path.join(temp, "diff"), 0o755)
            from .merge import merge_layers  # here: see probe
            merge_layers([mounts.unpacked_dir(d) for d in diff_ids], os.path.join(temp, "diff"))
            os.rename(temp, final)
        except BaseException:
            remove_tree(temp)
            raise
    return chain, diff


def flat_link_in(mounts: MountManager, chain: str) -> str:
    """``l/<short>`` for a flat directory, next to the layers' links, so that it costs
    the mount options no more than a layer."""
    mounts.layers.ensure_dirs()
    link = flat_link(chain)
    point_symlink(os.path.join(mounts.layers.root, link), os.path.join("..", "..", FLAT_DIR, chain, "diff"))
    return link


def mount_copy(mounts: MountManager, record: MountRecord, backend: str) -> None:
    """The rootfs of ``record`` as a copy of its layers (backend ``copy`` or ``directory``)."""
    from .merge import merge_layers  # here: see probe
    why = "overlay is not available for the store %s" % mounts.store.root
    if mounts.backend == "auto":
        reason = mounts.capabilities().get("reason")
        why += " (%s)" % reason if reason else ""
    else:
        why = "the %s backend was chosen" % backend
    if record.upper_dir:
        raise MountError("%s: a mount with its own upper directory needs overlay" % why)
    if backend == "directory":
        if os.listdir(record.target):
            raise MountError("%s is not empty: without mounts the image is copied into it, which needs an empty "
                             "directory" % record.target)
        record.kind = "directory"
        try:
            merge_layers([mounts.unpacked_dir(d) for d in record.diff_ids], record.target)
        except BaseException:
            for name in os.listdir(record.target):
                remove_tree(os.path.join(record.target, name))
            raise
        record.note = "%s and nothing can be mounted: the rootfs is a plain copy%s" % (
            why, ", which is not read-only" if record.read_only else "")
        return
    record.kind = "copy"
    if record.read_only:
        chain, source = flat_dir(mounts, record.diff_ids)
        record.flat = chain
    else:
        source = os.path.join(mounts.private_dir(COPY_DIR, record), "rootfs")
        os.mkdir(source, 0o755)
        merge_layers([mounts.unpacked_dir(d) for d in record.diff_ids], source)
    record.note = "%s: the rootfs is a copy of the layers" % why
    bind_mount(source, record.target, read_only=record.read_only, nodev_nosuid=record.nodev_nosuid)


def collect_cache(mounts: MountManager, dry_run: bool = False) -> int:
    """Remove merged (flat) directories that no stored image and no live mount can use."""
    try:
        names = os.listdir(mounts.flat_root)
    except FileNotFoundError:
        return 0
    keep = {r.flat for r in mounts.live_records() if r.flat}
    for diff_ids in _stored_diff_id_lists(mounts):
        keep.update(all_chain_ids(diff_ids) or [chain_id([])])
    removed = 0
    for name in names:
        if name == EMPTY or name.startswith(".") or name in keep:
            continue
        removed += 1
        if not dry_run:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(mounts.layers.root, flat_link(name)))
            remove_tree(os.path.join(mounts.flat_root, name))
    return removed


def _stored_diff_id_lists(mounts: MountManager) -> Iterator[List[str]]:
    for entry in mounts.store.images():
        ref = (entry.get("annotations") or {}).get(REF_NAME)
        try:
            yield mounts.image_layers(ref)[2]
        except (StoreError, ValueError, KeyError):
            continue
