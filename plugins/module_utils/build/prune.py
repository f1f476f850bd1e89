# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""oci_prune with the build engine's state: image.prune (images, blobs, unpacked layers), then
what builds keep in the store that nothing left refers to:

- ``build-cache/`` records (build.cache) whose layer no stored image and no live working
  container holds, and records of steps that made no layer: a record is worth keeping only
  while its layer is (the store's garbage collection takes a blob no image reaches, and the
  record is a miss from then on);
- ``build-records/`` (build.record) of image names no longer in the store;
- what killed builds left: ``builds/`` directories of builds that no longer run and are not
  kept (working.clean_stale_builds), and ``<run_root>/builds/`` directories whose build is
  gone and that hold no mount.

Cache mounts (``RUN --mount=type=cache``, ``build-cache-mounts/``) are the user's caches between
builds and stay. With check mode, the same is counted against the images the prune would leave.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os

from ..common.errors import UndockError
from ..common.locks import FileLock
from ..image.outcome import Outcome
from ..image.prune import PruneFilters, prune as prune_images
from ..storage.layout import REF_NAME
from ..storage.store import Store
from ..storage.trees import remove_tree
from .cache import CACHE_DIR
from .kept import KeptContainers
from .record import RECORDS_DIR
from .working import BUILDS_DIR, KEPT_FILE, clean_stale_builds

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, Set

MAX_CACHE_RECORD = 16 * 1024 * 1024


def prune(service: Any, filters: PruneFilters) -> Outcome:
    """image.prune, then the build state nothing refers to (see the module docstring). The
    values gain ``build_cache_count``, ``build_record_count`` and ``build_dir_count``, and
    ``freed_bytes`` counts their bytes too; ``before``/``after`` stay the images'."""
    outcome = prune_images(service, filters)
    store = service.store(create=False)
    counts = {"cache": 0, "records": 0, "dirs": 0, "bytes": 0}
    if store is not None:
        exclude = outcome.values["removed"] if service.check_mode else ()
        counts = prune_build_state(store, service.run_root, exclude=exclude, dry_run=service.check_mode)
    outcome.values.update(build_cache_count=counts["cache"], build_record_count=counts["records"],
                          build_dir_count=counts["dirs"])
    outcome.values["freed_bytes"] += counts["bytes"]
    if counts["cache"] or counts["records"] or counts["dirs"]:
        outcome.changed = True
        outcome.actions.append("%s %d build cache entries, %d build records and %d leftover build directories "
                               "(%d bytes)" % ("would remove" if service.check_mode else "removed", counts["cache"],
                                               counts["records"], counts["dirs"], counts["bytes"]))
    return outcome


def prune_build_state(store: Store, run_root: str, exclude: Iterable[str] = (), dry_run: bool = False) -> Dict[str, int]:
    """Remove (with ``dry_run``, count) the build state nothing refers to, as if the images
    named in ``exclude`` were gone; counts of ``cache``, ``records``, ``dirs`` and ``bytes``."""
    counts = {"cache": 0, "records": 0, "dirs": 0, "bytes": 0}
    roots = store.roots(exclude)
    held = store.referenced_blobs(roots) | working_layers(store, run_root)
    for path in _files(os.path.join(store.root, CACHE_DIR)):
        if _cached_layer(path) not in held:
            _remove_file(path, counts, "cache", dry_run)
    names = {hashlib.sha256(d["annotations"][REF_NAME].encode()).hexdigest() + ".json"
             for d in roots if REF_NAME in (d.get("annotations") or {})}
    for path in _files(os.path.join(store.root, RECORDS_DIR)):
        if os.path.basename(path) not in names:
            _remove_file(path, counts, "records", dry_run)
    counts["dirs"] += _stale_build_dirs(store, dry_run)
    counts["dirs"] += _stale_run_dirs(store, run_root, dry_run)
    return counts


def working_layers(store: Store, run_root: str) -> Set[str]:
    """The layer digests of every live (kept) working container."""
    kept = KeptContainers(store, run_root)
    digests: Set[str] = set()
    for name in _listdir(os.path.join(store.root, BUILDS_DIR)):
        if not name.startswith("w.") or not os.path.isfile(os.path.join(store.root, BUILDS_DIR, name, KEPT_FILE)):
            continue
        try:
            state = kept.read_state(name[2:]) or {}
        except UndockError:
            continue
        digests.update(str(d.get("digest")) for d in (state.get("container") or {}).get("layers") or [])
    return digests


def _cached_layer(path: str) -> str:
    """The layer digest a cache record holds; "" for a record of no layer or unreadable."""
    try:
        with open(path, "rb") as handle:
            record = json.loads(handle.read(MAX_CACHE_RECORD))
        return str(record["layer"]["desc"]["digest"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _remove_file(path: str, counts: Dict[str, int], kind: str, dry_run: bool) -> None:
    try:
        size = os.lstat(path).st_size
        if not dry_run:
            os.unlink(path)
    except FileNotFoundError:
        return
    counts[kind] += 1
    counts["bytes"] += size


def _stale_build_dirs(store: Store, dry_run: bool) -> int:
    if not dry_run:
        return clean_stale_builds(store)
    root = os.path.join(store.root, BUILDS_DIR)
    stale = 0
    for name in _listdir(root):
        if os.path.exists(os.path.join(root, name, KEPT_FILE)):
            continue
        with contextlib.suppress(UndockError):  # LockTimeout: that build is running
            with FileLock(os.path.join(store.locks, "build-%s.lock" % name)).acquire(timeout=0):
                stale += 1
    return stale


def _stale_run_dirs(store: Store, run_root: str, dry_run: bool) -> int:
    """``<run_root>/builds/<id>`` whose build directory is gone, with no mount under it."""
    root = os.path.join(os.path.abspath(run_root), BUILDS_DIR)
    stale = 0
    for name in _listdir(root):
        if os.path.lexists(os.path.join(store.root, BUILDS_DIR, name)):
            continue
        path = os.path.join(root, name)
        lock = os.path.join(store.locks, "build-%s.lock" % name)
        removed = False
        with contextlib.suppress(UndockError):  # LockTimeout: that build is running
            with FileLock(lock).acquire(timeout=0):
                if _holds_mount(path):
                    continue
                stale += 1
                if not dry_run:
                    remove_tree(path)
                    removed = True
        if removed:
            with contextlib.suppress(OSError):
                os.unlink(lock)  # as a build's own exit does
    return stale


def _holds_mount(path: str) -> bool:
    for top, dirs, dummy in os.walk(path):
        if any(os.path.ismount(os.path.join(top, d)) for d in dirs):
            return True
    return False


def _files(directory: str) -> Iterable[str]:
    return [os.path.join(directory, n) for n in sorted(_listdir(directory)) if n.endswith(".json")]


def _listdir(directory: str) -> Iterable[str]:
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []
