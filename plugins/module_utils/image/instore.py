# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the store holds for a name, read from its files: the step of ImageService.present
that finds the stored image (its name, entry and image, and which layers are not unpacked),
and the whole of present() when that is all it does.

ImageService.present (ops.py), the oci_image no-op (quick.py) and a container start
(runtime/service.py) find an image through these functions, one way for all three. The
last two import neither the image service nor the registry configuration: a module
compiles every file it imports from the AnsiballZ zip (no bytecode there), on every run.
A container service gets the ImageService itself only when a pull or an unpack is needed
(store_images.py)."""

from __future__ import annotations

from ..common.errors import UndockError
from ..model.platform import Platform, host_platform
from ..model.reference import Reference, parse_reference
from ..storage.peek import SOURCE_DIGEST, entry_name, holds_store, index_entries, layer_unpacked, original_manifest
from .outcome import Outcome
from .record import describe_image
from .resolve import ResolvedImage, layer_diff_ids, resolve_image, stored_by_digest
from .stored import StoredImageSource

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple


def named_entry(entries: Iterable[Dict[str, Any]], ref_name: str) -> Optional[Dict[str, Any]]:
    """The first of the index.json ``entries`` named ``ref_name`` (what the store's lookup finds)."""
    for entry in entries:
        if entry_name(entry) == ref_name:
            return entry
    return None


def stored_name(entries: Sequence[Dict[str, Any]], ref: Reference, candidates: Sequence[Reference],
                platform: Optional[Platform] = None) -> Reference:
    """The store name for ``ref``, given its short-name ``candidates`` (``[ref]`` for a name in
    full): the first candidate the index.json ``entries`` name, else, for a reference by
    digest, the stored image of the same repository with that digest (a digest cannot move,
    so it is the same image), else the first candidate."""
    for candidate in candidates:
        if named_entry(entries, str(candidate)) is not None:
            return candidate
    if ref.digest:
        for candidate in candidates:
            stored = stored_by_digest(entries, candidate, platform or host_platform())
            if stored is not None:
                return stored
    return candidates[0]


def stored_image(root: str, ref_name: str, entry: Dict[str, Any]) -> ResolvedImage:
    """The image the store at ``root`` holds as ``ref_name`` (its index.json ``entry``), its
    manifest and config read from the blobs and verified against their digests."""
    image = resolve_image(StoredImageSource(root, ref_name, entry), platform=entry.get("platform"))
    return image.with_top_digest((entry.get("annotations") or {}).get(SOURCE_DIGEST, image.manifest.digest))


def packed_layers(root: str, image: ResolvedImage) -> List[Tuple[Dict[str, Any], str]]:
    """(descriptor, diff ID) of each layer of ``image`` that the store at ``root`` has not unpacked."""
    diff_ids = layer_diff_ids(image.manifest, image.config)
    return [(layer, diff_ids[layer["digest"]]) for layer in image.manifest.layers
            if not layer_unpacked(root, diff_ids[layer["digest"]])]


def kept(ref_name: str, entry: Dict[str, Any], image: ResolvedImage) -> Outcome:
    """present()'s answer for the stored image it keeps, unchanged."""
    return Outcome(before={"digest": original_manifest(entry)["digest"]}, after={"digest": image.manifest.digest},
                   image=describe_image(ref_name, image), resolved=image)


def present_in_store(root: Optional[str], name: Any, pull: Any = "missing") -> Optional[Outcome]:
    """ImageService.present(name, pull) when the store's files answer it: ``name`` in full
    (a short name depends on registries.conf), a pull policy that cannot fetch (``missing``,
    ``never``, and ``newer`` for a digest, which cannot move), the image in the store with
    every layer unpacked. None for anything else, or anything unexpected in the store (a
    missing or corrupt blob, an entry it cannot read): the image service decides, and
    reports or repairs it. No lock is taken: index.json and the blobs are replaced
    atomically by their writers."""
    if not isinstance(name, str):
        return None
    try:
        ref = parse_reference(name)
    except UndockError:
        return None
    policies = ("missing", "never", "newer") if ref.digest else ("missing", "never")
    if ref.short_name or pull not in policies:
        return None
    try:
        if not root or not holds_store(root):
            return None
        entries = index_entries(root)
        ref_name = str(stored_name(entries, ref, [ref]))
        entry = named_entry(entries, ref_name)
        if entry is None:
            return None
        image = stored_image(root, ref_name, entry)
        return kept(ref_name, entry, image) if not packed_layers(root, image) else None
    except (UndockError, OSError, KeyError, TypeError, ValueError):
        return None  # the image service reads it again, and reports what is wrong
