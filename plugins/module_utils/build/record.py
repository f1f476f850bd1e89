# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A built image's record: the fingerprint of its inputs and how a build compares with it.

The fingerprint (sha256 of the inputs' canonical JSON) is the manifest annotation
``io.undock.build.fingerprint`` of the image a build made and, with the inputs themselves
(for ``--diff`` and ``changed_inputs``), ``<store>/build-records/<sha256 of name>.json``; in
the docker format, which has no annotations, the record alone holds it. ``compare`` is the
one decision "is this build a no-op", used by the engine (build.service, the Dockerfile
executor) and by build.quick, which answers before the engine is imported: this module
imports nothing heavy.
"""

from __future__ import annotations

import hashlib
import json
import os

from ..common.fileutil import atomic_write, makedirs_private
from ..image.outcome import Outcome
from ..image.record import describe_image
from .errors import BuildError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

FINGERPRINT = "io.undock.build.fingerprint"
RECORDS_DIR = "build-records"
EPOCH_ENV = "SOURCE_DATE_EPOCH"
MAX_RECORD = 4 * 1024 * 1024
KEPT_DIGESTS = "kept_digests"


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


def fingerprint_of(inputs: Dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical(inputs)).hexdigest()


def source_date_epoch(value: Any) -> Optional[int]:
    """``source_date_epoch``, else ``$SOURCE_DATE_EPOCH``, as seconds; None when neither."""
    if value in (None, ""):
        value = os.environ.get(EPOCH_ENV) or None
    if value is None:
        return None
    try:
        epoch = int(str(value).strip())
    except ValueError:
        raise BuildError("source_date_epoch must be a number of seconds since 1970, not %r" % (value,))
    if epoch < 0:
        raise BuildError("source_date_epoch must not be negative")
    return epoch


def record_path(storage_root: str, name: str) -> str:
    return os.path.join(storage_root, RECORDS_DIR, hashlib.sha256(name.encode()).hexdigest() + ".json")


def read_record(storage_root: str, name: str) -> Optional[Dict[str, Any]]:
    try:
        with open(record_path(storage_root, name), "rb") as handle:
            return json.loads(handle.read(MAX_RECORD))
    except (OSError, ValueError):
        return None


def finish_built(outcome: Outcome, storage_root: str, ref_name: str, digest: str, loaded: Outcome,
                 fingerprint: str, inputs: Dict[str, Any], kept_digests: Optional[Dict[str, Any]] = None) -> Outcome:
    """Complete ``outcome`` for the image just built and stored (``loaded``: the store's
    answer) and record its inputs, which ``compare`` reads on the next run, with the context
    files' digests by stat (``kept_digests``, context/stat_cache.py: no input, a cache)."""
    outcome.actions.append("built %s (%s)" % (ref_name, digest))
    outcome.after["digest"] = digest
    outcome.image = loaded.image
    outcome.resolved = loaded.resolved
    makedirs_private(os.path.join(storage_root, RECORDS_DIR))
    record = {"name": ref_name, "fingerprint": fingerprint, "digest": digest, "inputs": inputs}
    data = canonical(dict(record, **{KEPT_DIGESTS: kept_digests or {}}))
    if len(data) > MAX_RECORD:
        data = canonical(record)  # the cache must not cost the record its inputs
    atomic_write(record_path(storage_root, ref_name), data, 0o600)
    return outcome


def compare(outcome: Outcome, storage_root: str, ref_name: str, current: Any, inputs: Dict[str, Any],
            force: bool = False) -> Optional[Dict[str, Any]]:
    """Set ``outcome.before``/``after`` for a build of ``inputs`` into ``ref_name``, whose
    image in the store is ``current`` (a ResolvedImage, or None). When the fingerprints match
    (and not ``force``) the outcome is complete, a no-op, and the result is None; else the
    result is ``{"before_inputs": the recorded inputs or None, "fingerprint": the new one}``."""
    fingerprint = fingerprint_of(inputs)
    current_fp = (current.manifest.data.get("annotations") or {}).get(FINGERPRINT) if current is not None else None
    record = read_record(storage_root, ref_name) if current is not None else None
    if current_fp is None and record and record.get("digest") == current.manifest.digest:
        current_fp = record.get("fingerprint")  # format docker: the record alone holds it
    before_inputs = record["inputs"] if record and record.get("fingerprint") == current_fp else None
    outcome.before = {"fingerprint": current_fp, "digest": current.manifest.digest if current else None}
    if before_inputs is not None:
        outcome.before["inputs"] = before_inputs
    outcome.after = {"fingerprint": fingerprint, "inputs": inputs}
    if current_fp == fingerprint and not force:
        outcome.after["digest"] = current.manifest.digest
        outcome.before.setdefault("inputs", inputs)
        outcome.image = describe_image(ref_name, current)
        outcome.resolved = current
        return None
    outcome.changed = True
    outcome.values["changed_inputs"] = changed_inputs(before_inputs, inputs) if current is not None else ["image"]
    return {"before_inputs": before_inputs, "fingerprint": fingerprint}


#: inputs that are mappings reported entry by entry: ``sources:PATH``, ``context:PATH``, ``options.NAME``
ENTRY_BY_ENTRY = (("sources", "sources:%s"), ("context", "context:%s"), ("options", "options.%s"))


def changed_inputs(before: Optional[Dict[str, Any]], after: Dict[str, Any]) -> List[str]:
    """Which inputs differ, for steps (``steps``, ``base``, ``build_args``, ``sources:PATH``)
    and Dockerfiles (``dockerfile``, ``target``, ``build_args``, ``images``, ``secrets``,
    ``context:PATH``) alike, then ``options.NAME``; ``fingerprint`` when the old inputs are
    not recorded."""
    if before is None:
        return ["fingerprint"]
    by_entry = dict(ENTRY_BY_ENTRY)
    changed = [key for key in after if key not in by_entry and before.get(key) != after.get(key)]
    for key, form in ENTRY_BY_ENTRY:
        old, new = before.get(key) or {}, after.get(key) or {}
        changed += [form % entry for entry in sorted(set(old) | set(new)) if old.get(entry) != new.get(entry)]
    return changed
