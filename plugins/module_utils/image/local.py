# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Images in the content store, as a copy source and destination."""

from __future__ import annotations

from typing import Any, BinaryIO, Dict, List, Optional, Tuple

from ..common.errors import ManifestError, StoreError
from ..model.manifest import Manifest, parse_manifest, to_oci_manifest
from ..model.reference import parse_reference
from ..storage.layers import LayerStore, image_diff_ids
from ..storage.layout import REF_NAME, BlobOpener
from ..storage.store import ORIGINAL_MANIFEST, ORIGINAL_MEDIA_TYPE, SOURCE_REF, Store, original_manifest
from .interfaces import ImageDestination, ImageSource


class StoreImageSource(ImageSource):
    trusted = True

    def __init__(self, store: Store, ref_name: str):
        self.store = store
        self.ref_name = ref_name
        self.entry = store.lookup(ref_name)
        if self.entry is None:
            raise StoreError("image %s is not in the store %s" % (ref_name, store.root))
        origin = (self.entry.get("annotations") or {}).get(SOURCE_REF)
        self.origin = parse_reference(origin) if origin else None

    def describe(self) -> str:
        return "%s in %s" % (self.ref_name, self.store.describe())

    def get_manifest(self, digest: Optional[str] = None) -> Manifest:
        if digest is None:
            desc = original_manifest(self.entry)
            digest, media_type = desc["digest"], desc.get("mediaType")
        else:
            media_type = None
        return parse_manifest(self.store.read_blob(digest), media_type, digest, validate=False)

    def blob_opener(self, desc: Dict[str, Any]) -> BlobOpener:
        def opener(offset: int) -> Tuple[BinaryIO, int]:
            handle = self.store.open_blob(desc["digest"])
            handle.seek(offset)
            return handle, offset
        return opener

    def open_file(self, desc: Dict[str, Any]) -> BinaryIO:
        return self.store.open_blob(desc["digest"])


class StoreImageDestination(ImageDestination):
    """Writes into the store under the GC lock, so nothing is collected before it is named.

    With ``unpack`` (the default), each layer is also unpacked as it downloads, in the
    same pass (storage.layers), so a present image is ready to mount."""

    def __init__(self, store: Store, ref_name: str, unpack: bool = True, max_layer_size: Optional[int] = None):
        self.store = store
        self.ref_name = ref_name
        self.layers = (LayerStore(store, max_layer_size) if max_layer_size else LayerStore(store)) if unpack else None
        self.diff_ids: Dict[str, str] = {}
        self.unpacked: List[str] = []
        self._writing = store.writing()
        self._writing.__enter__()

    def prepare(self, manifest: Manifest, config: Dict[str, Any]) -> None:
        if self.layers is None:
            return
        self.diff_ids = layer_diff_ids(manifest, config)

    def has_blob(self, desc: Dict[str, Any]) -> bool:
        present = self.store.has_blob(desc["digest"], desc.get("size"))
        diff_id = self.diff_ids.get(desc["digest"])
        return present and (diff_id is None or self.layers.has(diff_id))

    def put_blob(self, desc: Dict[str, Any], source: ImageSource) -> bool:
        diff_id = self.diff_ids.get(desc["digest"])
        if diff_id is None:
            return self.store.ingest_blob(desc, source.blob_opener(desc))
        done = self.layers.pull(desc, diff_id, source.blob_opener(desc))
        if done["unpacked"]:
            self.unpacked.append(diff_id)
        return done["fetched"]

    def describe(self) -> str:
        return "%s in %s" % (self.ref_name, self.store.describe())

    def put_manifest(self, manifest: Manifest) -> None:
        self.store.write_blob(manifest.raw, manifest.digest)

    def commit(self, manifest: Manifest, annotations: Optional[Dict[str, str]] = None,
               platform: Optional[Dict[str, str]] = None) -> bool:
        """Index the manifest under the name. A Docker manifest is kept as pulled and
        indexed through its OCI view (see registry.manifest.to_oci_manifest)."""
        extra = {k: v for k, v in (annotations or {}).items() if k != REF_NAME}
        indexed = to_oci_manifest(manifest)
        if indexed is not manifest:
            self.store.write_blob(indexed.raw, indexed.digest)
            extra[ORIGINAL_MANIFEST] = manifest.digest
            extra[ORIGINAL_MEDIA_TYPE] = manifest.media_type
        desc: Dict[str, Any] = {"mediaType": indexed.media_type, "digest": indexed.digest,
                                "size": len(indexed.raw)}
        if platform:
            desc["platform"] = platform
        if extra:
            desc["annotations"] = extra
        return self.store.tag(self.ref_name, desc)

    def close(self) -> None:
        if self._writing is not None:
            self._writing.__exit__(None, None, None)
            self._writing = None


def layer_diff_ids(manifest: Manifest, config: Dict[str, Any]) -> Dict[str, str]:
    """Layer blob digest -> diff ID, pairing manifest layers with the config's rootfs."""
    diff_ids = image_diff_ids(config)
    if len(diff_ids) != len(manifest.layers):
        raise ManifestError("manifest %s has %d layers but its config lists %d diff IDs"
                            % (manifest.digest, len(manifest.layers), len(diff_ids)))
    return {layer["digest"]: diff_id for layer, diff_id in zip(manifest.layers, diff_ids)}
