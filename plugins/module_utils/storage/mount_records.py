# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who uses which image: one record per mount, checked against the kernel's mount table.

Records and repair
------------------
``<run_root>/mounts/<sha256 of target>.json`` describes each mount: image, digests, diff
IDs, target, owner, creator pid (and its start time), kind. The runtime root is on tmpfs
(``/run/undock``), so records vanish at boot with the mounts. Every change happens under
``<run_root>/mounts.lock``. A record is live while its mount (by mount ID and mount point,
from ``/proc/self/mountinfo``) exists and, for a *transient* owner (a scan), while the
creating process lives. ``repair()`` unmounts mounts whose transient owner died (killed
with -9, say) and drops records whose mount is gone. Mounts without a record are not ours
and are never touched. Two mounts of one image are two users.
"""

from __future__ import annotations

import contextlib
import json
import os

from ..common.errors import StoreError
from ..common.fileutil import atomic_write, makedirs_private
from ..common.locks import FileLock
from ..model.digest import name_digest

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Set


class MountError(StoreError):
    """A mount or unmount failed, or a target is not usable."""


_RECORD_FIELDS = ("target", "store", "image", "digest", "image_id", "diff_ids", "owner", "kind", "read_only",
                  "transient", "pid", "pid_start", "mount_id", "lowers", "flat", "upper_dir", "work_dir", "private",
                  "remove_target", "nodev_nosuid", "note", "id", "created")


class MountRecord:
    """One mount of an image, as kept under ``<run_root>/mounts/``."""

    __slots__ = _RECORD_FIELDS

    def __init__(self, target: str, store: str, image: str, digest: str, image_id: str, diff_ids: List[str],
                 owner: str, kind: str, read_only: bool = True, transient: bool = False, pid: int = 0,
                 pid_start: Optional[int] = None, mount_id: Optional[int] = None, lowers: Optional[List[str]] = None,
                 flat: Optional[str] = None, upper_dir: Optional[str] = None, work_dir: Optional[str] = None,
                 private: Optional[List[str]] = None, remove_target: bool = False, nodev_nosuid: bool = True,
                 note: Optional[str] = None, id: str = "", created: float = 0.0) -> None:
        self.target = target
        self.store = store
        self.image = image              # the store name (full normalised reference)
        self.digest = digest            # manifest digest as pulled
        self.image_id = image_id        # config digest
        self.diff_ids = diff_ids        # base first
        self.owner = owner              # who asked: "oci_mount", "oci_scan", "container:NAME"...
        self.kind = kind                # overlay | flat | copy | directory
        self.read_only = read_only
        self.transient = transient      # the mount lives only as long as process ``pid``
        self.pid = pid
        self.pid_start = pid_start
        self.mount_id = mount_id        # from /proc/self/mountinfo (None for kind directory)
        self.lowers = [] if lowers is None else lowers      # lowerdir entries, topmost first
        self.flat = flat                # chain id of the merged bottom layers, if any
        self.upper_dir = upper_dir
        self.work_dir = work_dir
        self.private = [] if private is None else private   # directories removed on unmount
        self.remove_target = remove_target  # the target directory was made for this mount only
        self.nodev_nosuid = nodev_nosuid
        self.note = note
        self.id = id
        self.created = created

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MountRecord):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    @property
    def layers(self) -> int:
        return len(self.diff_ids)

    def describe(self) -> str:
        how = "read-only" if self.read_only else "writable"
        if self.transient:
            how += ", pid %d" % self.pid
        return "%s at %s (%s)" % (self.owner, self.target, how)

    def to_dict(self) -> Dict[str, Any]:
        return {name: getattr(self, name) for name in _RECORD_FIELDS}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "MountRecord":
        known = {k: v for k, v in data.items() if k in _RECORD_FIELDS}
        return cls(**known)


def _unescape(field_text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal ``\\ooo``."""
    if "\\" not in field_text:
        return field_text
    out = bytearray()
    raw = field_text.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(raw):
        if raw[i:i + 1] == b"\\" and raw[i + 1:i + 4].isdigit() and len(raw[i + 1:i + 4]) == 3:
            out.append(int(raw[i + 1:i + 4], 8) & 0xFF)
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "surrogateescape")


def mountinfo() -> List[Dict[str, Any]]:
    """The mounts of this process's namespace: id, mount point, options, fs type, source."""
    result = []
    with open("/proc/self/mountinfo", "rb") as handle:
        for line in handle.read().decode("utf-8", "surrogateescape").splitlines():
            parts = line.split(" ")
            try:
                sep = parts.index("-", 6)
            except ValueError:
                continue
            result.append({"id": int(parts[0]), "parent": int(parts[1]), "point": _unescape(parts[4]),
                           "options": parts[5].split(","), "fstype": parts[sep + 1],
                           "source": _unescape(parts[sep + 2]) if len(parts) > sep + 2 else "",
                           "super_options": parts[sep + 3].split(",") if len(parts) > sep + 3 else []})
    return result


def mount_entry(target: str, mount_id: Optional[int] = None,
                table: Optional[List[Dict[str, Any]]] = None) -> Optional[Dict[str, Any]]:
    """The topmost mount at ``target`` (or the one with ``mount_id`` there), if any;
    ``table`` is a ``mountinfo()`` already read."""
    found = None
    for entry in mountinfo() if table is None else table:
        if entry["point"] == target and (mount_id is None or entry["id"] == mount_id):
            found = entry
    return found


def process_start(pid: int) -> Optional[int]:
    """Start time of ``pid`` (clock ticks after boot), None if there is no such process.
    Together with the pid it tells a living process from a reused pid."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            data = handle.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    try:
        fields = data[data.rindex(b")") + 2:].split()
        if fields[0] == b"Z":  # a zombie has died already
            return None
        return int(fields[19])
    except (ValueError, IndexError):
        return None


class MountRecords:
    """The mount records of the store ``store_root`` under ``run_root`` (``<run_root>/mounts/``)."""

    def __init__(self, run_root: str, store_root: str):
        self.run_root = run_root
        self.store_root = store_root
        self.records_dir = os.path.join(self.run_root, "mounts")
        self._lock: Any = None

    def _ensure_run_root(self) -> None:
        makedirs_private(self.run_root)
        makedirs_private(self.records_dir)

    def lock(self) -> Any:
        """The lock every mount, unmount, repair and image removal holds (reentrant).

        A user who may not create the runtime root cannot have mounted anything there
        either: with no records directory and no right to make one, there is nothing to
        lock against (image removal by a non-root user of their own store)."""
        if self._lock is None:
            try:
                self._ensure_run_root()
            except PermissionError:
                if os.path.isdir(self.records_dir):
                    raise
                return contextlib.nullcontext()
            self._lock = FileLock(os.path.join(self.run_root, "mounts.lock"))
        return self._lock

    def _record_path(self, target: str) -> str:
        return os.path.join(self.records_dir, name_digest(target.encode("utf-8", "surrogateescape"))
                            + ".json")

    def _read(self, path: str) -> Optional[MountRecord]:
        try:
            with open(path, "rb") as handle:
                return MountRecord.from_dict(json.loads(handle.read()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            return None  # torn or foreign file: not a record of ours

    def _write(self, record: MountRecord) -> None:
        self._ensure_run_root()
        atomic_write(self._record_path(record.target), json.dumps(record.to_dict(), sort_keys=True).encode(), 0o600,
                     durable=False)  # the runtime root is volatile

    def _drop(self, record: MountRecord) -> None:
        try:
            os.unlink(self._record_path(record.target))
        except FileNotFoundError:
            pass

    def all_records(self) -> List[MountRecord]:
        """Every record under the runtime root, of every store, live or not."""
        try:
            names = sorted(os.listdir(self.records_dir))
        except FileNotFoundError:
            return []
        records = []
        for name in names:
            if name.endswith(".json") and not name.startswith("."):
                record = self._read(os.path.join(self.records_dir, name))
                if record is not None:
                    records.append(record)
        return records

    def records(self) -> List[MountRecord]:
        """Records of this store, live or not."""
        return [r for r in self.all_records() if r.store == self.store_root]

    def state(self, record: MountRecord, table: Optional[List[Dict[str, Any]]] = None) -> str:
        """``live``; ``orphaned`` (still mounted, but its transient owner died); ``gone``."""
        if record.kind == "directory":
            present = os.path.isdir(record.target)
        else:
            present = mount_entry(record.target, record.mount_id, table) is not None
        if not present:
            return "gone"
        if record.transient:
            started = process_start(record.pid)
            if started is None or (record.pid_start is not None and started != record.pid_start):
                return "orphaned"
        return "live"

    def live_records(self) -> List[MountRecord]:
        records = self.records()
        table = mountinfo() if records else []
        return [r for r in records if self.state(r, table) == "live"]

    def users(self, image: str) -> List[MountRecord]:
        """Live mounts of ``image``: a store name, a manifest digest or an image ID."""
        return [r for r in self.live_records() if image in (r.image, r.digest, r.image_id)]

    def mounted(self, target: str) -> Optional[MountRecord]:
        """The live mount of ours at ``target``, if any (for idempotency)."""
        target = os.path.realpath(target)
        record = self._read(self._record_path(target))
        if record is None or record.store != self.store_root or self.state(record) != "live":
            return None
        return record

    def foreign_mount(self, target: str) -> bool:
        """Whether something not recorded by us is mounted at ``target``."""
        target = os.path.realpath(target)
        entry = mount_entry(target)
        if entry is None:
            return False
        record = self._read(self._record_path(target))
        return record is None or record.mount_id != entry["id"]

    def diff_ids_in_use(self) -> Set[str]:
        return {d for r in self.live_records() for d in r.diff_ids}
