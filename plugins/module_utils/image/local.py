# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Images in the content store, as a copy source and destination."""

from __future__ import annotations

from ..common.errors import StoreError
from ..model.manifest import Manifest, to_oci_manifest
from ..storage.layers import LayerStore
from ..storage.layout import REF_NAME
from ..storage.peek import ORIGINAL_MANIFEST, ORIGINAL_MEDIA_TYPE
from ..storage.store import Store
from .interfaces import ImageDestination, ImageSource
from .resolve import layer_diff_ids
from .stored import StoredImageSource

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional
    from ..storage.layout import Received


class StoreImageSource(StoredImageSource, ImageSource):
    """An image of the opened store, looked up by name: a copy's source (push, export)."""

    def __init__(self, store: Store, ref_name: str):
        self.store = store
        entry = store.lookup(ref_name)
        if entry is None:
            raise StoreError("image %s is not in the store %s" % (ref_name, store.root))
        super().__init__(store.root, ref_name, entry)


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

    def put_blob(self, desc: Dict[str, Any], source: ImageSource, received: Received = None) -> bool:
        diff_id = self.diff_ids.get(desc["digest"])
        if diff_id is None:
            return self.store.ingest_blob(desc, source.blob_opener(desc), received=received)
        done = self.layers.pull(desc, diff_id, source.blob_opener(desc), received=received)
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
