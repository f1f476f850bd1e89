# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The store read without being opened: its index.json entries by name, small blobs
verified against their digest, whether a layer is unpacked, and the annotations the
store puts on its entries.

What a task answers from the store's files alone uses this (image/quick.py,
runtime/quick.py), so it imports nothing heavier than model.digest; the store and every
OCI layout (storage.layout) read their blobs through it too. Nothing is locked,
written or repaired here: every file read is replaced atomically by its writers, so a
read sees either the old or the new content, and a reader that finds anything it does
not expect answers None and leaves the decision to the full engine (storage.store)."""

from __future__ import annotations

import json
import os
import stat

from ..common.errors import StoreError
from ..common.fileutil import open_regular_file
from ..model.digest import parse_digest, verify_bytes

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Dict, List, Optional

REF_NAME = "org.opencontainers.image.ref.name"  # OCI image layout: an index.json entry's name
# Annotations the store adds to its index.json entries.
SOURCE_DIGEST = "io.undock.source.digest"   # digest the reference resolved to at the source (may be an index)
SOURCE_REF = "io.undock.source.reference"   # where the image was pulled from, for cross-repository mounts
# Set when index.json points at an OCI view of a Docker manifest: the manifest as pulled.
ORIGINAL_MANIFEST = "io.undock.manifest.digest"
ORIGINAL_MEDIA_TYPE = "io.undock.manifest.media-type"


def read_json(path: str) -> Optional[Dict[str, Any]]:
    """The JSON object in the file ``path``; None when it is missing, unreadable or not an object."""
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def holds_store(root: str) -> bool:
    """Whether ``root`` holds a finished store (a regular ``oci-layout`` and ``locks/``, what
    storage.store checks), without the directory lock store_exists() takes: a store being
    made is not one yet."""
    try:
        return stat.S_ISREG(os.lstat(os.path.join(root, "oci-layout")).st_mode) and os.path.isdir(os.path.join(root, "locks"))
    except OSError:
        return False


def index_entries(root: str) -> List[Dict[str, Any]]:
    """The named entries of the store's index.json (empty when it cannot be read)."""
    index = read_json(os.path.join(root, "index.json")) or {}
    manifests = index.get("manifests")
    if not isinstance(manifests, list):
        return []
    return [entry for entry in manifests if isinstance(entry, dict) and entry_name(entry)]


def entry_name(entry: Dict[str, Any]) -> Optional[str]:
    annotations = entry.get("annotations")
    return annotations.get(REF_NAME) if isinstance(annotations, dict) else None


def index_entry(root: str, ref_name: str) -> Optional[Dict[str, Any]]:
    """The index.json entry named ``ref_name``, or None."""
    for entry in index_entries(root):
        if entry_name(entry) == ref_name:
            return entry
    return None


def original_manifest(entry: Dict[str, Any]) -> Dict[str, Any]:
    """The descriptor of the manifest as pulled, for an index.json entry."""
    annotations = entry.get("annotations") or {}
    digest = annotations.get(ORIGINAL_MANIFEST)
    if not digest:
        return entry
    return {"mediaType": annotations.get(ORIGINAL_MEDIA_TYPE), "digest": digest, "size": -1}


def blob_path(root: str, digest: str) -> str:
    """``blobs/<alg>/<hex>`` of the OCI layout ``root`` (the digest validated first)."""
    algorithm, hexpart = parse_digest(digest)
    return os.path.join(root, "blobs", algorithm, hexpart)


def open_blob(root: str, digest: str) -> BinaryIO:
    """The blob ``digest`` of the layout ``root``, open for reading; a StoreError when it is
    missing or not a regular file."""
    try:
        return open_regular_file(blob_path(root, digest))
    except FileNotFoundError:
        raise StoreError("blob %s is missing from %s" % (digest, root))


def read_blob(root: str, digest: str) -> bytes:
    """A small blob (manifest, config) of the layout ``root``, verified against ``digest``."""
    with open_blob(root, digest) as handle:
        data = handle.read()
    verify_bytes(data, digest, "blob %s in %s" % (digest, root))
    return data


def image_diff_ids(config: Dict[str, Any]) -> List[str]:
    """The config's ``rootfs.diff_ids``, validated (they become directory names)."""
    rootfs = config.get("rootfs") or {}
    diff_ids = rootfs.get("diff_ids")
    if rootfs.get("type") != "layers" or not isinstance(diff_ids, list):
        raise StoreError("image config has no rootfs.diff_ids of type layers")
    for diff_id in diff_ids:
        parse_digest(diff_id)
    return list(diff_ids)


def layer_dir(root: str, diff_id: str) -> str:
    """``overlay/<diff-id hex>``: where the layer ``diff_id`` is unpacked (storage.layers)."""
    return os.path.join(root, "overlay", parse_digest(diff_id)[1])


def layer_unpacked(root: str, diff_id: str) -> bool:
    return os.path.isdir(os.path.join(layer_dir(root, diff_id), "diff"))
