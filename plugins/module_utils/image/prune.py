# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Choose images to remove by filter, then remove them and every blob and unpacked layer
nothing else uses (``podman image prune`` with ``--filter``). Images in use are kept."""

from __future__ import annotations

import calendar
import datetime
import re
import time

from ..common.errors import UndockError
from ..model.reference import parse_reference
from ..storage.layers import collect_layers
from ..storage.layout import REF_NAME
from ..storage.mounts import MountManager
from ..storage.store import Store
from .outcome import Outcome

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence

_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNITS = (7 * 86400, 86400, 3600, 60, 1)
_LABEL_KEY = re.compile(r"[^\s=]+")


class PruneFilters:
    """Filters are combined with AND. With none set, no image is chosen (only content that
    no image uses is collected)."""

    __slots__ = ("all_images", "dangling", "older_than", "labels")

    def __init__(self, all_images: bool = False, dangling: bool = False, older_than: Optional[str] = None,
                 labels: Optional[Sequence[str]] = None) -> None:
        self.all_images = all_images
        self.dangling = dangling
        self.older_than = older_than
        self.labels = [] if labels is None else labels

    def any(self) -> bool:
        return bool(self.all_images or self.dangling or self.older_than or self.labels)

    def validate(self, now: Optional[float] = None) -> None:
        """Raise UndockError for a malformed filter, before anything is read or removed."""
        if self.older_than:
            parse_cutoff(self.older_than, now)
        elif self.older_than is not None:
            raise UndockError("older_than is empty: give a duration (like 7d) or a date (like 2024-05-01)")
        for item in self.labels:
            key = str(item).partition("=")[0]
            if not _LABEL_KEY.fullmatch(key):
                raise UndockError("labels: %r is not KEY or KEY=VALUE (a key is non-empty, with no space or '=')"
                                  % (item,))


def parse_cutoff(value: str, now: Optional[float] = None) -> float:
    """``older_than`` as a UNIX time: a duration back from now (``36h``, ``7d``, ``1h30m``,
    ``2w``) or a date (``2024-05-01``, ``2024-05-01T12:00:00Z``)."""
    now = time.time() if now is None else now
    text = str(value).strip()
    match = _DURATION.fullmatch(text)
    if text and match and any(match.groups()):
        return now - sum(int(n) * unit for n, unit in zip(match.groups(), _UNITS) if n)
    created = parse_time(text)
    if created is None:
        raise UndockError("older_than %r is neither a duration (like 36h, 7d, 1h30m) nor a date "
                          "(like 2024-05-01 or 2024-05-01T12:00:00Z)" % value)
    return created


def parse_time(text: Any) -> Optional[float]:
    """An RFC 3339 time as image configs write it (any fraction, Z or offset), or a date."""
    if not isinstance(text, str):
        return None
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})?)?",
                         text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    try:  # 2024-13-45 matches the pattern but is no date
        datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        return None
    seconds = calendar.timegm((int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                               int(second or 0), 0, 0, 0))
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return float(seconds)


def _labels_match(labels: Dict[str, str], wanted: Sequence[str]) -> bool:
    for item in wanted:
        key, sep, value = str(item).partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def choose(service: Any, filters: PruneFilters, now: Optional[float] = None) -> List[str]:
    """Store names of the images the filters select."""
    if not filters.any():
        return []
    store = service.store(create=False)
    if store is None:
        return []
    cutoff = parse_cutoff(filters.older_than, now) if filters.older_than else None
    chosen = []
    for entry in store.images():
        name = entry["annotations"][REF_NAME]
        if filters.dangling and parse_reference(name, default_tag=None).tag is not None:
            continue
        if cutoff is not None or filters.labels:
            image = service.local_image(name)
            if image is None:
                continue
            if cutoff is not None and (parse_time(image.config.get("created")) or 0.0) >= cutoff:
                continue
            labels = (image.config.get("config") or {}).get("Labels") or {}
            if filters.labels and not _labels_match(labels, filters.labels):
                continue
        chosen.append(name)
    return chosen


def prune(service: Any, filters: PruneFilters, now: Optional[float] = None) -> Outcome:
    """Remove the chosen images that nothing uses, then unreferenced blobs and layers.

    Returns an Outcome whose ``values`` hold ``removed`` (names), ``kept`` (names in use),
    ``freed_bytes``, ``blob_count`` and ``layer_count``, and whose ``before`` and ``after``
    list the store's images; in check mode, what a real run would do."""
    filters.validate(now)
    store: Optional[Store] = service.store(create=False)
    if store is None:
        return Outcome(before={"images": []}, after={"images": []},
                       values={"removed": [], "kept": [], "freed_bytes": 0, "blob_count": 0, "layer_count": 0})
    outcome = Outcome(before={"images": image_names(store)})
    mounts = MountManager(store, service.run_root)
    chosen = choose(service, filters, now)
    removed, kept = [], []
    for name in chosen:
        users, holds = mounts.image_users(name)
        if users or holds:
            kept.append(name)
            outcome.warnings.append("kept %s: in use by %s" % (name, ", ".join(
                ["%s at %s" % (r.owner, r.target) for r in users] + [h.describe() for h in holds])))
        else:
            removed.append(name)
    in_use = mounts.diff_ids_in_use()
    if service.check_mode:
        blobs = store.collect_garbage(dry_run=True, exclude=removed)
        layers = collect_layers(store, keep=in_use, dry_run=True, exclude=removed)
        outcome.after = {"images": [n for n in outcome.before["images"] if n not in removed]}
    else:
        with mounts.lock():
            mounts.repair()
            for name in removed:
                store.untag(name)
        blobs = store.collect_garbage()
        layers = collect_layers(store, keep=mounts.diff_ids_in_use())
        mounts.collect_cache()
        outcome.after = {"images": image_names(store)}
    freed = blobs["bytes"] + layers["bytes"]
    outcome.changed = bool(removed or blobs["blobs"] or layers["layers"])
    verb = "would remove" if service.check_mode else "removed"
    for name in removed:
        outcome.actions.append("%s %s" % (verb, name))
    if blobs["blobs"] or layers["layers"]:
        outcome.actions.append("%s %d blobs and %d unpacked layers (%d bytes)"
                               % (verb, blobs["blobs"], layers["layers"], freed))
    outcome.values = {"removed": removed, "kept": kept, "freed_bytes": freed,
                      "blob_count": blobs["blobs"], "layer_count": layers["layers"]}
    return outcome


def image_names(store: Store) -> List[str]:
    return sorted(e["annotations"][REF_NAME] for e in store.images())
