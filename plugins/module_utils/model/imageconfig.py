# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Image config blobs (application/vnd.oci.image.config.v1+json and Docker's): parsing and checking."""

from __future__ import annotations

from ..common.errors import ManifestError
from ..common.jsonutil import load_json
from .manifest import DOCKER_CONFIG

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict


def parse_config(raw: bytes, desc: Dict[str, Any], origin: str, validate: bool = True) -> Dict[str, Any]:
    """The config JSON object ``raw``, the blob ``desc`` names, read from ``origin``.

    With ``validate`` it is checked against the config schema of its media type: Docker's
    for a Docker config, the OCI one for anything else, since the engine reads every config
    as an image config. A reader of the store passes False (checked when it was pulled), and so never
    loads the schemas; so does a copy, which runs ``check_config`` itself later (image.copy).
    """
    config = load_json(raw, _what(desc, origin), error=ManifestError, expect=dict)
    if validate:  # the schemas (and jsonschema) only for documents from outside
        check_config(config, desc, origin)
    return config


def check_config(config: Dict[str, Any], desc: Dict[str, Any], origin: str) -> None:
    """Raise ManifestError unless ``config`` matches its schema: what ``parse_config`` does
    with ``validate``, for a caller that parsed without it and checks later (model.pending)."""
    from . import schemas
    from .validation import validate_document
    schema = schemas.DOCKER_CONFIG if desc.get("mediaType") == DOCKER_CONFIG else schemas.OCI_CONFIG
    validate_document(config, schema, _what(desc, origin))


def _what(desc: Dict[str, Any], origin: str) -> str:
    return "image config %s from %s" % (desc.get("digest"), origin)
