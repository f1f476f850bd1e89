# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sigstore (cosign) signatures as they sit in a registry and in containers/image's files.

In a registry, the signatures of manifest ``sha256:HEX`` live under the tag ``sha256-HEX.sig``:
an OCI manifest whose layers are the payloads, media type
``application/vnd.dev.cosign.simplesigning.v1+json``, each with its base64 DER signature in the
``dev.cosignproject.cosign/signature`` annotation; the config lists the payload digests as
diff IDs. In a ``dir:`` image, containers/image stores each as ``\\x00sigstore-json\\n`` + JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import namedtuple

from ..common.errors import SigningError
from ..common.jsonutil import load_json
from ..model.digest import parse_digest, sha256_digest
from ..model.manifest import OCI_CONFIG, OCI_MANIFEST, Manifest, parse_manifest
from .keys import sign_bytes, verify_bytes
from .payload import SignedPayload, make_payload, parse_payload

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
DIR_SIGNATURE_PREFIX = b"\x00sigstore-json\n"


class Signature(namedtuple("Signature", "mime_type payload annotations")):
    """One untrusted sigstore signature: a payload (bytes), its MIME type (mime_type: str), and
    annotations (Dict[str, str])."""

    __slots__ = ()

    @property
    def is_simple_signing(self) -> bool:
        return self.mime_type == SIMPLE_SIGNING_MEDIA_TYPE

    def layer_descriptor(self) -> Dict[str, Any]:
        return {"mediaType": self.mime_type, "digest": sha256_digest(self.payload), "size": len(self.payload),
                "annotations": dict(self.annotations)}


def signature_tag(manifest_digest: str) -> str:
    """``sha256-HEX.sig``: the tag cosign and containers/image use for ``sha256:HEX``'s signatures."""
    algorithm, hexpart = parse_digest(manifest_digest)
    return "%s-%s.sig" % (algorithm, hexpart)


def sign(key: Any, docker_reference: str, manifest_digest: str, timestamp: Optional[int] = None) -> Signature:
    payload = make_payload(docker_reference, manifest_digest, timestamp)
    encoded = base64.b64encode(sign_bytes(key, payload)).decode("ascii")
    return Signature(SIMPLE_SIGNING_MEDIA_TYPE, payload, {SIGNATURE_ANNOTATION: encoded})


def verify(signature: Signature, public_keys: List[Any]) -> SignedPayload:
    """The payload of ``signature`` if one of ``public_keys`` signed it; SigningError says why not.

    Only cryptography and format: the caller compares digest and identity.
    """
    if not signature.is_simple_signing:
        raise SigningError("not a simple-signing signature (MIME type %r)" % signature.mime_type)
    encoded = signature.annotations.get(SIGNATURE_ANNOTATION)
    if not encoded:
        raise SigningError("the signature has no %s annotation" % SIGNATURE_ANNOTATION)
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as err:
        raise SigningError("the %s annotation is not base64: %s" % (SIGNATURE_ANNOTATION, err))
    if not public_keys:
        raise SigningError("no public key to verify the signature with")
    if not any(verify_bytes(key, signature.payload, raw) for key in public_keys):
        raise SigningError("cryptographic signature verification failed with %d trusted key(s)" % len(public_keys))
    return parse_payload(signature.payload)


# -- containers/image's dir: format --------------------------------------------------------------
def parse_dir_signature(data: bytes, where: str = "signature") -> Optional[Signature]:
    """A ``signature-N`` file of a ``dir:`` image; None for a non-sigstore (GPG) signature."""
    if not data.startswith(DIR_SIGNATURE_PREFIX):
        return None
    try:
        document = load_json(data[len(DIR_SIGNATURE_PREFIX):], "%s: sigstore-json signature" % where, error=SigningError,
                             expect=dict)
        mime_type, payload = document["mimeType"], base64.b64decode(document["payload"], validate=True)
        annotations = document.get("annotations") or {}
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, binascii.Error) as err:
        raise SigningError("%s: malformed sigstore-json signature: %s" % (where, err))
    if not isinstance(mime_type, str) or not isinstance(annotations, dict) \
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()):
        raise SigningError("%s: malformed sigstore-json signature fields" % where)
    return Signature(mime_type, payload, annotations)


def dir_signature_bytes(signature: Signature) -> bytes:
    document = {"mimeType": signature.mime_type, "payload": base64.b64encode(signature.payload).decode("ascii"),
                "annotations": signature.annotations}
    return DIR_SIGNATURE_PREFIX + json.dumps(document, separators=(",", ":")).encode("utf-8")


# -- the registry attachment -------------------------------------------------------------------
def signatures_from_manifest(manifest: Manifest, read_blob: Any) -> List[Signature]:
    """The signatures a ``sha256-HEX.sig`` manifest holds; ``read_blob(desc)`` returns verified bytes."""
    if manifest.media_type != OCI_MANIFEST:
        raise SigningError("signature manifest %s is %s, not an OCI manifest" % (manifest.digest, manifest.media_type))
    result = []
    for layer in manifest.layers:
        annotations = layer.get("annotations") or {}
        if not isinstance(annotations, dict):
            raise SigningError("signature manifest %s: layer annotations are not an object" % manifest.digest)
        result.append(Signature(str(layer["mediaType"]), read_blob(layer),
                                {str(k): str(v) for k, v in annotations.items()}))
    return result


def build_signature_manifest(signatures: List[Signature]) -> Tuple[Manifest, bytes]:
    """(manifest, config bytes) of an attachment holding ``signatures``, in order. The payloads
    are its layers; the config lists their digests as diff IDs, as containers/image writes it."""
    layers = [sig.layer_descriptor() for sig in signatures]
    config = {"architecture": "", "os": "", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]}}
    config_raw = json.dumps(config, separators=(",", ":")).encode("utf-8")
    document = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(config_raw), "size": len(config_raw)},
                "layers": layers}
    raw = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return parse_manifest(raw, OCI_MANIFEST), config_raw


def same_signature(a: Signature, b: Signature) -> bool:
    """The comparison containers/image makes before adding a layer: type, payload, annotations."""
    return a.mime_type == b.mime_type and a.payload == b.payload and a.annotations == b.annotations


def signed_by(signatures: List[Signature], key: Any, docker_reference: str, manifest_digest: str) -> Optional[Signature]:
    """The signature among ``signatures`` that ``key`` made for this digest and identity, if any."""
    public = key.public_key()
    for sig in signatures:
        try:
            payload = verify(sig, [public])
        except SigningError:
            continue
        if payload.manifest_digest == manifest_digest and payload.docker_reference == docker_reference:
            return sig
    return None
