# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the stages of one Dockerfile build share, and what a finished stage leaves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Set

from ...storage.store import Store
from ..builder import BuildSettings
from ..cache import LayerCache
from ..context.snapshot import Snapshot
from ..dockerfile.document import Dockerfile


@dataclass
class StageResult:
    """A built stage: its image config (history and rootfs included), layers, the blobs it
    made, its mounted rootfs (for COPY --from and bind mounts) and its last cache key."""

    config: Dict[str, Any]
    layers: List[Dict[str, Any]]
    diff_ids: List[str]
    blobs: Dict[str, str]
    rootfs: str
    key: str


@dataclass
class BuildState:
    dockerfile: Dockerfile
    store: Store
    run_root: str
    context_dir: str
    snapshot: Snapshot
    global_args: Dict[str, str]
    build_args: Dict[str, str]
    predefined: Dict[str, str]
    secrets: Dict[str, str]
    layers: bool
    cache: Optional[LayerCache]
    settings: BuildSettings
    #: a base or --from image by name -> (name, digest, config, layers) of the store
    images: Dict[str, Any] = field(default_factory=dict)
    #: rootfs of an image named in COPY --from / RUN --mount from (mounted on first use)
    image_root: Optional[Callable[[str], str]] = None
    results: Dict[int, StageResult] = field(default_factory=dict)
    used_args: Set[str] = field(default_factory=set)
    log: List[str] = field(default_factory=list)
