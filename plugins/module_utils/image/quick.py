# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The no-op of ``oci_image`` answered from the store's files: the most common image task
of all (an image that is already there) should cost little more than reading index.json.

It serves ``state: present`` with nothing to load, push, sign or export, for a reference
named in full (a short name depends on registries.conf) that the store holds with every
layer unpacked, when the pull policy cannot fetch: ``missing`` or ``never`` for a tag, and
also ``newer`` for a digest (a digest cannot move). For those, ImageService.present finds
the entry, reads the image and returns it unchanged, without a request, a policy check or
a write; ``unchanged`` gives the same Outcome through the same functions (resolve.py,
record.py, stored.py) without importing the registry client, the store's writers or the
layer code. Anything else, or anything it does not find as expected (a missing or corrupt
blob, a layer not unpacked, an entry it cannot read), returns None and the full engine
decides, with its errors and repairs.

No lock is taken, and the store's housekeeping (stale temporaries) waits for the next
task that opens it: every file read here is replaced atomically by its writers, and a
read that loses a race with another task is the answer that task's run would have found
just before it."""

from __future__ import annotations

from typing import Any, Dict, Optional

from ..common.errors import UndockError
from ..model.platform import host_platform
from ..model.reference import parse_reference
from ..storage.peek import SOURCE_DIGEST, entry_name, holds_store, index_entries, layer_unpacked, original_manifest
from .outcome import Outcome
from .record import describe_image
from .resolve import layer_diff_ids, resolve_image, stored_by_digest
from .stored import StoredImageSource

#: Options that make the task do more than make the image present.
ACTIONS = ("source", "push", "export_to", "sign_by", "platform", "force")


def unchanged(params: Dict[str, Any]) -> Optional[Outcome]:
    """The Outcome of ``oci_image`` with these module ``params`` when the image is in the
    store as asked and the task has nothing to do; None when the full engine must decide."""
    if params.get("state", "present") != "present" or any(params.get(option) for option in ACTIONS):
        return None
    try:
        ref = parse_reference(params["name"])
    except UndockError:
        return None
    policies = ("missing", "never", "newer") if ref.digest else ("missing", "never")
    if ref.short_name or params.get("pull", "missing") not in policies:
        return None
    root = params.get("storage_root")
    try:
        return _present(root, ref) if root and holds_store(root) else None
    except (UndockError, OSError, KeyError, TypeError, ValueError):
        return None  # the full engine reads it again, and reports what is wrong


def _present(root: str, ref: Any) -> Optional[Outcome]:
    """ImageService.present(pull=missing) of an image in the store, as the engine reads it."""
    entries = index_entries(root)
    named: Dict[str, Dict[str, Any]] = {}
    for entry in entries:
        named.setdefault(entry_name(entry), entry)  # the first of a name, as the store's lookup
    ref_name = str(ref)
    if ref_name not in named and ref.digest:  # ImageService.local_name
        stored = stored_by_digest(entries, ref, host_platform())
        ref_name = str(stored) if stored is not None else ref_name
    entry = named.get(ref_name)
    if entry is None:
        return None
    source = StoredImageSource(root, ref_name, entry)
    image = resolve_image(source, platform=entry.get("platform"))  # ImageService.local_image
    image = image.with_top_digest((entry.get("annotations") or {}).get(SOURCE_DIGEST, image.manifest.digest))
    diff_ids = layer_diff_ids(image.manifest, image.config)  # ImageService._ensure_unpacked
    if not all(layer_unpacked(root, diff_ids[layer["digest"]]) for layer in image.manifest.layers):
        return None
    return Outcome(before={"digest": original_manifest(entry)["digest"]}, after={"digest": image.manifest.digest},
                   image=describe_image(ref_name, image), resolved=image)
