# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The image a build made, as documents (config, manifest) and as an ImageSource, so that it
enters the store the way every image does: through image.copy and ImageService.present.

The source serves the config from memory, the new layers from the build directory and the
base image's layers from the store. ``created`` is fixed by ``source_date_epoch`` when given,
so two builds of the same inputs give the same bytes.
"""

from __future__ import annotations

import time

from ..image.interfaces import ImageSource
from ..model.digest import sha256_digest
from ..model.manifest import (DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_CONFIG, OCI_LAYER,
                              OCI_LAYER_GZIP, OCI_MANIFEST, Manifest, parse_manifest)
from ..model.pending import PendingChecks
from ..storage.store import Store
from .errors import BuildError
from .record import canonical

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Dict, List, Optional, Tuple
    from ..storage.layout import BlobOpener

_TO_DOCKER = {OCI_LAYER_GZIP: DOCKER_LAYER_GZIP, OCI_LAYER: "application/vnd.docker.image.rootfs.diff.tar"}
_TO_OCI = {v: k for k, v in _TO_DOCKER.items()}


def timestamp(epoch: Optional[int]) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if epoch is None else epoch))


def layer_type(media_type: str, image_format: str) -> str:
    """A base layer's media type in the built image's format (the bytes are the same)."""
    if image_format == "docker":
        if media_type in _TO_DOCKER:
            return _TO_DOCKER[media_type]
        if media_type.startswith("application/vnd.docker."):
            return media_type
        raise BuildError("the base image has a %s layer, which the docker format cannot name: use format oci"
                         % media_type)
    return _TO_OCI.get(media_type, media_type)


def image_documents(config: Dict[str, Any], layers: List[Dict[str, Any]], image_format: str,
                    annotations: Dict[str, str]) -> Tuple[bytes, bytes]:
    """(config bytes, manifest bytes) of the built image."""
    config_raw = canonical(config)
    docker = image_format == "docker"
    manifest: Dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG, "digest": sha256_digest(config_raw),
                   "size": len(config_raw)},
        "layers": [dict(d, mediaType=layer_type(d["mediaType"], image_format)) for d in layers],
    }
    if annotations:
        if docker:
            raise BuildError("format docker has no manifest annotations: use format oci, or labels")
        manifest["annotations"] = dict(sorted(annotations.items()))
    for layer in manifest["layers"]:
        for key in [k for k in layer if k not in ("mediaType", "digest", "size", "annotations", "urls")]:
            del layer[key]
    return config_raw, canonical(manifest)


class BuiltImageSource(ImageSource):
    """The built image as a copy source (see the module docstring)."""

    def __init__(self, store: Store, name: str, config_raw: bytes, manifest_raw: bytes, blobs: Dict[str, str]):
        self.store = store
        self.name = name
        self.config_raw = config_raw
        self.manifest = parse_manifest(manifest_raw, None, validate=True, origin="the build of %s" % name)
        self.blobs = blobs

    def describe(self) -> str:
        return "the build of %s" % self.name

    def get_manifest(self, digest: Optional[str] = None, checks: Optional[PendingChecks] = None) -> Manifest:
        if digest not in (None, self.manifest.digest):
            raise BuildError("the build of %s has no manifest %s" % (self.name, digest))
        return self.manifest

    def blob_opener(self, desc: Dict[str, Any]) -> BlobOpener:
        digest = desc["digest"]

        def opener(offset: int) -> Tuple[BinaryIO, int]:
            if digest == self.manifest.config["digest"]:
                import io
                handle: BinaryIO = io.BytesIO(self.config_raw)
            elif digest in self.blobs:
                handle = open(self.blobs[digest], "rb")
            else:
                handle = self.store.open_blob(digest)
            handle.seek(offset)
            return handle, offset
        return opener
