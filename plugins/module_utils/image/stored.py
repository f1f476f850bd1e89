# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An image of the store read from the store's files: the manifest its index.json entry
names and its blobs, each verified against its digest. It needs no opened Store, so the
no-op answered from the store's files (instore.py) reads images exactly as the engine's
store source (local.StoreImageSource, this plus the lookup in the opened store) does.

It has what resolve_image reads of an ImageSource (interfaces.py), without being one:
local.StoreImageSource, the store as a copy source, is both, and a container start from a
stored image (instore.py) does not import the copy's interfaces."""

from __future__ import annotations

import os

from ..model.manifest import Manifest, parse_manifest
from ..model.pending import PendingChecks
from ..model.reference import parse_reference
from ..storage.peek import SOURCE_REF, open_blob, original_manifest, read_blob

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Dict, Optional, Tuple
    from ..storage.layout import BlobOpener


class StoredImageSource:
    trusted = True  # its documents were checked against their schemas when they entered the store

    def __init__(self, root: str, ref_name: str, entry: Dict[str, Any]):
        self.root = os.path.abspath(root)
        self.ref_name = ref_name
        self.entry = entry
        origin = (entry.get("annotations") or {}).get(SOURCE_REF)
        self.origin = parse_reference(origin) if origin else None

    def describe(self) -> str:
        return "%s in store %s" % (self.ref_name, self.root)

    def get_manifest(self, digest: Optional[str] = None, checks: Optional[PendingChecks] = None) -> Manifest:
        if digest is None:
            desc = original_manifest(self.entry)
            digest, media_type = desc["digest"], desc.get("mediaType")
        else:
            media_type = None
        return parse_manifest(read_blob(self.root, digest), media_type, digest, validate=False)

    def blob_opener(self, desc: Dict[str, Any]) -> "BlobOpener":
        def opener(offset: int) -> Tuple[BinaryIO, int]:
            handle = open_blob(self.root, desc["digest"])
            handle.seek(offset)
            return handle, offset
        return opener

    def open_file(self, desc: Dict[str, Any]) -> BinaryIO:
        return open_blob(self.root, desc["digest"])

    def read_blob(self, desc: Dict[str, Any]) -> bytes:
        """A small blob (a config), verified against its digest (as the store reads its own)."""
        return read_blob(self.root, desc["digest"])
