# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the stages of one Dockerfile build share, and what a finished stage leaves."""

from __future__ import annotations

from ...storage.store import Store
from ..builder import BuildSettings
from ..cache import LayerCache
from ..context.snapshot import Snapshot
from ..dockerfile.document import Dockerfile

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Set


class StageResult:
    """A built stage: its image config (history and rootfs included), layers, the blobs it
    made, its mounted rootfs (for COPY --from and bind mounts) and its last cache key."""

    __slots__ = ("config", "layers", "diff_ids", "blobs", "rootfs", "key")

    def __init__(self, config: Dict[str, Any], layers: List[Dict[str, Any]], diff_ids: List[str], blobs: Dict[str, str],
                 rootfs: str, key: str):
        self.config = config
        self.layers = layers
        self.diff_ids = diff_ids
        self.blobs = blobs
        self.rootfs = rootfs
        self.key = key


class BuildState:
    __slots__ = ("dockerfile", "store", "run_root", "context_dir", "snapshot", "global_args", "build_args", "predefined",
                 "secrets", "layers", "cache", "settings", "images", "image_root", "results", "used_args", "log")

    def __init__(self, dockerfile: Dockerfile, store: Store, run_root: str, context_dir: str, snapshot: Snapshot,
                 global_args: Dict[str, str], build_args: Dict[str, str], predefined: Dict[str, str],
                 secrets: Dict[str, str], layers: bool, cache: Optional[LayerCache], settings: BuildSettings,
                 images: Optional[Dict[str, Any]] = None, image_root: Optional[Callable[[str], str]] = None,
                 results: Optional[Dict[int, StageResult]] = None, used_args: Optional[Set[str]] = None,
                 log: Optional[List[str]] = None):
        self.dockerfile = dockerfile
        self.store = store
        self.run_root = run_root
        self.context_dir = context_dir
        self.snapshot = snapshot
        self.global_args = global_args
        self.build_args = build_args
        self.predefined = predefined
        self.secrets = secrets
        self.layers = layers
        self.cache = cache
        self.settings = settings
        #: a base or --from image by name -> (name, digest, config, layers) of the store
        self.images = {} if images is None else images
        #: rootfs of an image named in COPY --from / RUN --mount from (mounted on first use)
        self.image_root = image_root
        self.results = {} if results is None else results
        self.used_args = set() if used_args is None else used_args
        self.log = [] if log is None else log
