# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The layer cache: what one layer's steps made, found again by what went into them.

A record per key under ``<store>/build-cache/<hex>.json``: the layer (descriptor and diff ID,
or none when the steps changed nothing), the history entries of the steps, and the image
config and annotations after them. The key (cachekey.step_cache_key) is the parent's chain of layers,
the steps' normalised text with the config they started from, the build args, and the content
digests of the files they copy. A record is written only after its layer was committed, so a
failed step is never cached; it is used only while its blob and unpacked layer are both still
in the store (garbage collection may have taken them: then it is a miss).
"""

from __future__ import annotations

import hashlib
import json
import os

from ..common.fileutil import atomic_write, makedirs_private
from ..storage.layers import LayerStore
from ..storage.flat import chain_id
from ..storage.store import Store
from .record import canonical
from .cachekey import step_cache_key
from .steps import step_sources

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

CACHE_DIR = "build-cache"


def segment_key(diff_ids: List[str], steps: List[Dict[str, Any]], config: Dict[str, Any], settings: Dict[str, Any],
                build_args: Dict[str, str]) -> str:
    """The cache key of one layer's ``steps`` on top of ``diff_ids`` with ``config``."""
    sources = step_sources(steps)
    instruction = canonical({"steps": steps, "config": config, "settings": settings}).decode("utf-8")
    return step_cache_key(chain_id(diff_ids), instruction, build_args, canonical(sources).decode("utf-8"))


class LayerCache:
    def __init__(self, store: Store):
        self.store = store
        self.root = os.path.join(store.root, CACHE_DIR)

    def _path(self, key: str) -> str:
        return os.path.join(self.root, hashlib.sha256(key.encode()).hexdigest() + ".json")

    def get(self, key: str) -> Optional[Dict[str, Any]]:
        """The record of ``key`` whose layer is still in the store, else None."""
        try:
            with open(self._path(key), "rb") as handle:
                record = json.loads(handle.read(16 * 1024 * 1024))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("key") != key:
            return None
        layer = record.get("layer")
        if layer is not None:
            if not self.store.has_blob(layer["desc"]["digest"], layer["desc"].get("size")):
                return None
            if not LayerStore(self.store).has(layer["diff_id"]):
                return None
        return record

    def put(self, key: str, layer: Optional[Dict[str, Any]], history: List[Dict[str, Any]], config: Dict[str, Any],
            annotations: Dict[str, str]) -> None:
        makedirs_private(self.root)
        record = {"key": key, "layer": layer, "history": history, "config": config, "annotations": annotations}
        atomic_write(self._path(key), json.dumps(record, sort_keys=True).encode(), 0o600)
