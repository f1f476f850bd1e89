# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``image`` return value: one record for local and remote images, in every module,
whether the full engine or the no-op answered from the store's files (quick.py) made it."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Optional
    from .resolve import ResolvedImage

#: The keys of every ``image`` return value, whatever the module and whether it was found.
IMAGE_KEYS = ("name", "digest", "id", "media_type", "source_digest", "platform", "size", "layers", "config",
              "created", "labels")


def describe_image(name: str, image: Optional["ResolvedImage"]) -> Dict[str, Any]:
    """The ``image`` return value, the same for local and remote images and in every module.
    Without ``image`` (an entry that cannot be read), every key but the name is empty."""
    if image is None:
        return dict({key: None for key in IMAGE_KEYS}, name=name, layers=[], config={}, labels={})
    config = image.config
    container_config = config.get("config") or {}
    return {
        "name": name,
        "digest": image.manifest.digest,
        "id": image.manifest.config["digest"],
        "media_type": image.manifest.media_type,
        "source_digest": image.top_digest,
        "platform": "/".join(v for v in (image.platform.get("os"), image.platform.get("architecture"),
                                         image.platform.get("variant")) if v),
        "size": sum(int(d.get("size") or 0) for d in image.manifest.blobs()) + len(image.manifest.raw),
        "layers": [d["digest"] for d in image.manifest.layers],
        "config": container_config,
        "created": config.get("created"),
        "labels": container_config.get("Labels") or {},
    }
