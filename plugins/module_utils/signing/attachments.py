# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signatures in a registry repository, under the ``sha256-HEX.sig`` tag (no referrers API:
docker-registry 2.8 has none, and cosign and containers/image use the tag)."""

from __future__ import annotations

import io

from ..common.errors import NotFoundError, SigningError
from ..model.digest import verify_bytes as verify_digest
from .sigstore import Signature, build_signature_manifest, same_signature, sign, signature_tag, signatures_from_manifest, \
    signed_by

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List
    from ..registry.client import RegistryClient

MAX_SIGNATURE_BLOB = 4 * 1024 * 1024


def read_signatures(client: RegistryClient, manifest_digest: str) -> List[Signature]:
    """Every attachment layer under the signature tag of ``manifest_digest``; [] when none."""
    tag = signature_tag(manifest_digest)
    try:
        manifest = client.get_manifest(tag)
    except NotFoundError:
        return []

    def read_blob(desc: Dict[str, Any]) -> bytes:
        if int(desc.get("size") or 0) > MAX_SIGNATURE_BLOB:
            raise SigningError("signature payload %s in %s:%s is larger than %d bytes"
                               % (desc["digest"], client.repository, tag, MAX_SIGNATURE_BLOB))
        data = client.read_blob(desc["digest"], limit=MAX_SIGNATURE_BLOB)
        verify_digest(data, desc["digest"], "signature payload %s in %s:%s" % (desc["digest"], client.repository, tag))
        return data

    return signatures_from_manifest(manifest, read_blob)


def write_signatures(client: RegistryClient, manifest_digest: str, signatures: List[Signature]) -> None:
    """Replace the signature tag with a manifest holding ``signatures`` (payloads, config, manifest)."""
    manifest, config_raw = build_signature_manifest(signatures)
    blobs = {manifest.config["digest"]: config_raw}
    for sig in signatures:
        blobs[sig.layer_descriptor()["digest"]] = sig.payload
    for digest, data in blobs.items():
        if client.blob_size(digest) is None:
            client.upload_blob({"digest": digest, "size": len(data)}, lambda data=data: io.BytesIO(data))
    client.put_manifest(signature_tag(manifest_digest), manifest)


def add_signature(client: RegistryClient, manifest_digest: str, signature: Signature) -> bool:
    """Append ``signature`` to the image's attachment; False if an identical one is there."""
    existing = read_signatures(client, manifest_digest)
    if any(same_signature(signature, sig) for sig in existing):
        return False
    write_signatures(client, manifest_digest, existing + [signature])
    return True


def sign_in_registry(client: RegistryClient, key: Any, docker_reference: str, manifest_digest: str,
                     check_mode: bool = False) -> bool:
    """Sign ``manifest_digest`` as ``docker_reference`` unless ``key`` already did. True if changed."""
    existing = read_signatures(client, manifest_digest)
    if signed_by(existing, key, docker_reference, manifest_digest) is not None:
        return False
    if not check_mode:
        write_signatures(client, manifest_digest, existing + [sign(key, docker_reference, manifest_digest)])
    return True
