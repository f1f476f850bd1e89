# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simple-signing payload a sigstore signature signs.

``{"critical": {"identity": {"docker-reference": REF}, "image": {"docker-manifest-digest": DIGEST},
"type": "cosign container image signature"}, "optional": {...} or null}``. Reading is as strict
as containers/image: exactly these fields in ``critical`` and its children, anything in
``optional`` (``creator`` a string, ``timestamp`` an integer when present).
"""

from __future__ import annotations

import json
import time
from collections import namedtuple

from ..common.errors import SigningError
from ..common.jsonutil import load_json
from ..model.digest import InvalidDigestError, validate_digest

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

SIGNATURE_TYPE = "cosign container image signature"
CREATOR = "undock.oci"


class SignedPayload(namedtuple("SignedPayload", "docker_reference manifest_digest creator timestamp",
                               defaults=(None, None))):
    """What a payload claims; trusted only after its signature verified: docker_reference and
    manifest_digest (str), creator (Optional[str]), timestamp (Optional[int])."""

    __slots__ = ()


def make_payload(docker_reference: str, manifest_digest: str, timestamp: Optional[int] = None) -> bytes:
    """Payload bytes for a signature of ``manifest_digest`` as ``docker_reference``."""
    validate_digest(manifest_digest)
    if not docker_reference:
        raise SigningError("a signature needs a docker reference")
    document = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": manifest_digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": {"creator": CREATOR, "timestamp": int(time.time()) if timestamp is None else timestamp},
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _exact(value: Any, fields: tuple, where: str) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise SigningError("signature payload: %s is not a JSON object" % where)
    if set(value) != set(fields):
        raise SigningError("signature payload: %s has fields %s, expected exactly %s"
                           % (where, sorted(value), sorted(fields)))
    return value


def _no_duplicates(pairs: Any) -> Dict[str, Any]:
    result: Dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise SigningError("signature payload: duplicate field %r" % key)
        result[key] = value
    return result


def parse_payload(data: bytes) -> SignedPayload:
    """Parse payload bytes; SigningError says which field is wrong."""
    document = load_json(data, "signature payload", error=SigningError, object_pairs_hook=_no_duplicates)
    document = _exact(document, ("critical", "optional"), "the top level")
    critical = _exact(document["critical"], ("identity", "image", "type"), "critical")
    if critical["type"] != SIGNATURE_TYPE:
        raise SigningError("signature payload: unrecognised type %r" % (critical["type"],))
    image = _exact(critical["image"], ("docker-manifest-digest",), "critical.image")
    digest = image["docker-manifest-digest"]
    try:
        validate_digest(digest)
    except InvalidDigestError as err:
        raise SigningError("signature payload: critical.image.docker-manifest-digest: %s" % err)
    identity = _exact(critical["identity"], ("docker-reference",), "critical.identity")
    reference = identity["docker-reference"]
    if not isinstance(reference, str):
        raise SigningError("signature payload: critical.identity.docker-reference is not a string")
    optional = document["optional"]
    creator = timestamp = None
    if optional is not None:
        if not isinstance(optional, dict):
            raise SigningError("signature payload: optional is not a JSON object")
        if "creator" in optional:
            creator = optional["creator"]
            if not isinstance(creator, str):
                raise SigningError("signature payload: optional.creator is not a string")
        if "timestamp" in optional:
            value = optional["timestamp"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
                raise SigningError("signature payload: optional.timestamp is not an integer")
            timestamp = int(value)
    return SignedPayload(docker_reference=reference, manifest_digest=digest, creator=creator, timestamp=timestamp)
