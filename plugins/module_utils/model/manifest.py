# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manifest media types, parsing with the spec's safety checks, and platform selection.

Manifest bytes are never re-serialised: the digest of what the registry sent is the
identity of the image, so callers keep the original bytes next to the parsed form.
"""

from __future__ import annotations

import json

from .digest import SMALL_CONTENT, Digester
from ..common.errors import ManifestError
from ..common.jsonutil import load_json
from .platform import Platform, normalize_platform, platform_matches

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

IMAGE_MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
# docker-registry 2.8 answers 404 for OCI manifests, and converts schema2 to schema1,
# unless Accept lists them, so every request names all four.
ACCEPT_MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)

MAX_MANIFEST_SIZE = 4 * 1024 * 1024  # what distribution and containers/image accept

#: The schema (model.schemas) of each media type: read when a document is validated, so a
#: reader of the store (which passes validate=False) never loads the schemas.
SCHEMA_NAMES = {OCI_MANIFEST: "OCI_MANIFEST", OCI_INDEX: "OCI_INDEX", DOCKER_MANIFEST: "DOCKER_MANIFEST",
                DOCKER_LIST: "DOCKER_LIST"}


class Manifest:
    """A parsed manifest or index, with the exact bytes it came from."""

    __slots__ = ("raw", "media_type", "digest", "data")

    def __init__(self, raw: bytes, media_type: str, digest: str, data: Dict[str, Any]) -> None:
        self.raw = raw
        self.media_type = media_type
        self.digest = digest
        self.data = data

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def config(self) -> Dict[str, Any]:
        return self.data["config"]

    @property
    def layers(self) -> List[Dict[str, Any]]:
        return self.data.get("layers") or []

    @property
    def manifests(self) -> List[Dict[str, Any]]:
        return self.data.get("manifests") or []

    def blobs(self) -> List[Dict[str, Any]]:
        """Config then layers: every blob an image manifest references."""
        return [self.config] + self.layers

    def select(self, wanted: Platform) -> Dict[str, Any]:
        """The descriptor of the index entry for ``wanted``; a clear error lists what exists."""
        for desc in self.manifests:
            if platform_matches(wanted, desc.get("platform") or {}):
                return desc
        offered = sorted(str(normalize_platform(d["platform"])) for d in self.manifests
                         if isinstance(d.get("platform"), dict) and d["platform"].get("architecture"))
        raise ManifestError("no image for platform %s in %s (available: %s)"
                            % (wanted, self.digest, ", ".join(offered) or "none"))


def parse_manifest(raw: bytes, declared_type: Optional[str] = None,
                   expected_digest: Optional[str] = None, *, validate: bool = True, origin: str = "") -> Manifest:
    """Parse and validate manifest bytes.

    ``declared_type`` is the Content-Type (or descriptor mediaType) it came with. The
    body's own ``mediaType`` wins when present and the two must agree. A body without
    ``mediaType`` that has both ``manifests`` and ``layers``/``config`` is ambiguous and
    refused (CVE-2021-41190). Schema1 is refused. With ``validate``, the body is checked
    against the schema of its media type (model.schemas); only a reader of the store, whose
    manifests were checked on the way in and are read back by digest, passes False, and a
    copy, which runs ``check_manifest`` itself later (image.copy).
    ``origin`` (a registry repository, an archive) goes into error messages.
    """
    if len(raw) > MAX_MANIFEST_SIZE:
        raise ManifestError("manifest is %d bytes, more than the %d allowed" % (len(raw), MAX_MANIFEST_SIZE))
    digester = Digester(expected_digest, small=len(raw) <= SMALL_CONTENT)
    digester.update(raw)
    digest = digester.digest()
    if expected_digest and digest != expected_digest:
        raise ManifestError("manifest digest %s does not match the requested %s" % (digest, expected_digest))
    data = load_json(raw, "manifest %s" % digest, error=ManifestError, expect=dict)

    body_type = data.get("mediaType")
    declared = (declared_type or "").split(";")[0].strip() or None
    if declared in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED) or body_type in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED) \
            or data.get("schemaVersion") == 1:
        raise ManifestError("manifest %s is Docker schema 1, which is deprecated and not supported; "
                            "push the image again with a current tool" % digest)

    has_index_fields = "manifests" in data
    has_image_fields = "layers" in data or "config" in data
    if body_type is None:
        if has_index_fields and has_image_fields:
            raise ManifestError("manifest %s is ambiguous: no mediaType, and fields of both an index and an "
                                "image manifest (CVE-2021-41190)" % digest)
        if declared in (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST):
            media_type = declared
        elif has_index_fields:
            media_type = OCI_INDEX
        elif has_image_fields:
            media_type = OCI_MANIFEST
        else:
            raise ManifestError("manifest %s has neither layers nor manifests" % digest)
    else:
        media_type = body_type
        if declared and declared not in ("application/json", "text/plain", "application/octet-stream") \
                and declared != body_type:
            raise ManifestError("manifest %s declares mediaType %s but was served as %s"
                                % (digest, body_type, declared))

    if media_type in INDEX_TYPES:
        if has_image_fields:
            raise ManifestError("index %s also has layers or config (CVE-2021-41190)" % digest)
    elif media_type in IMAGE_MANIFEST_TYPES:
        if has_index_fields:
            raise ManifestError("manifest %s also has a manifests list (CVE-2021-41190)" % digest)
    else:
        raise ManifestError("manifest %s has unsupported media type %s" % (digest, media_type))
    manifest = Manifest(raw=raw, media_type=media_type, digest=digest, data=data)
    if validate:
        check_manifest(manifest, origin)
    return manifest


def check_manifest(manifest: Manifest, origin: str = "") -> None:
    """Raise ManifestError unless ``manifest`` matches the schema of its media type
    (model.schemas): what ``parse_manifest`` does with ``validate``, for a caller that parsed
    without it and checks later (model.pending)."""
    what = "%s %s" % ("index" if manifest.is_index else "manifest", manifest.digest)
    from . import schemas
    from .validation import validate_document
    validate_document(manifest.data, getattr(schemas, SCHEMA_NAMES[manifest.media_type]),
                      what + (" from " + origin if origin else ""))


_DOCKER_TO_OCI_LAYER = {
    DOCKER_LAYER_GZIP: OCI_LAYER_GZIP,
    "application/vnd.docker.image.rootfs.diff.tar": OCI_LAYER,
    DOCKER_FOREIGN_LAYER: OCI_LAYER_NONDIST_GZIP,
}


def to_oci_manifest(manifest: Manifest) -> Manifest:
    """The OCI image manifest equivalent of a Docker v2s2 manifest, over the same blobs.

    The store keeps the Docker bytes as pulled (their digest is the image's identity)
    and indexes this view beside them, because OCI layout readers such as skopeo 1.9
    and umoci only see OCI-typed entries in index.json.
    """
    if manifest.media_type != DOCKER_MANIFEST:
        return manifest
    config = dict(manifest.config, mediaType=OCI_CONFIG)
    layers = []
    for layer in manifest.layers:
        converted = dict(layer)
        converted["mediaType"] = _DOCKER_TO_OCI_LAYER.get(layer["mediaType"], layer["mediaType"])
        layers.append(converted)
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return parse_manifest(raw, OCI_MANIFEST, validate=False)  # made from a checked manifest
