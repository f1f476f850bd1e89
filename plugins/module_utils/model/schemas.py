# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSON Schemas (draft 4) of the documents an image is made of, as Python data.

Written from the OCI image-spec (descriptor.md, manifest.md, image-index.md, config.md and
its schema/*.json) and from Docker's "Image Manifest Version 2, Schema 2" for the Docker
manifest and manifest list. Ansible ships only the .py files of module_utils to the managed
host, so the schemas are kept here rather than as .json files.

Where the engine needs more than the spec's own schema files, the spec text decides:
- digests are only those of the registered algorithms (sha256, sha512), since a digest
  becomes a file name (CVE-2024-3727); ``\\Z`` rather than ``$`` ends every pattern, because
  Python's ``$`` also matches before a trailing newline;
- annotations and labels are maps of string to string (the files only check non-empty keys);
- ``layers`` may be empty: the text says it SHOULD have an entry, the files say minItems 1;
- ``mediaType`` may be missing from a Docker document's body when the Content-Type says it;
- a ``description`` on a schema names what a value must be, for error messages.
Docker configs are the OCI config with ``null`` also allowed where Go's encoder writes a nil
slice or map (docker's container.Config has no omitempty on those fields).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict

    Schema = Dict[str, Any]

DIGEST: Schema = {
    "type": "string",
    "pattern": r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})\Z",
    "description": "a digest (sha256: and 64 hex digits, or sha512: and 128)",
}
# RFC 6838 type/subtype, as defs-descriptor.json has it.
MEDIA_TYPE: Schema = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\Z",
    "description": "a media type (type/subtype, RFC 6838)",
}
SIZE: Schema = {"type": "integer", "minimum": 0, "maximum": 2 ** 63 - 1}
STRING_MAP: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
STRINGS: Schema = {"type": "array", "items": {"type": "string"}}
SCHEMA_VERSION_2: Schema = {"type": "integer", "minimum": 2, "maximum": 2}

DESCRIPTOR: Schema = {
    "type": "object",
    "required": ["mediaType", "size", "digest"],
    "properties": {
        "mediaType": MEDIA_TYPE,
        "size": SIZE,
        "digest": DIGEST,
        "urls": STRINGS,
        "data": {"type": "string"},
        "artifactType": MEDIA_TYPE,
        "annotations": STRING_MAP,
    },
}

PLATFORM: Schema = {
    "type": "object",
    "required": ["architecture", "os"],
    "properties": {
        "architecture": {"type": "string"},
        "os": {"type": "string"},
        "os.version": {"type": "string"},
        "os.features": STRINGS,
        "variant": {"type": "string"},
        "features": STRINGS,
    },
}


def _descriptor_with(**properties: Schema) -> Schema:
    return dict(DESCRIPTOR, properties=dict(DESCRIPTOR["properties"], **properties))


OCI_MANIFEST: Schema = {
    "type": "object",
    "required": ["schemaVersion", "config", "layers"],
    "properties": {
        "schemaVersion": SCHEMA_VERSION_2,
        "mediaType": {"enum": ["application/vnd.oci.image.manifest.v1+json"]},
        "artifactType": MEDIA_TYPE,
        "config": DESCRIPTOR,
        "layers": {"type": "array", "items": DESCRIPTOR},
        "subject": DESCRIPTOR,
        "annotations": STRING_MAP,
    },
}

OCI_INDEX: Schema = {
    "type": "object",
    "required": ["schemaVersion", "manifests"],
    "properties": {
        "schemaVersion": SCHEMA_VERSION_2,
        "mediaType": {"enum": ["application/vnd.oci.image.index.v1+json"]},
        "artifactType": MEDIA_TYPE,
        "manifests": {"type": "array", "items": _descriptor_with(platform=PLATFORM)},
        "subject": DESCRIPTOR,
        "annotations": STRING_MAP,
    },
}

DOCKER_MANIFEST: Schema = {
    "type": "object",
    "required": ["schemaVersion", "config", "layers"],
    "properties": {
        "schemaVersion": SCHEMA_VERSION_2,
        "mediaType": {"enum": ["application/vnd.docker.distribution.manifest.v2+json"]},
        "config": DESCRIPTOR,
        "layers": {"type": "array", "items": DESCRIPTOR},
    },
}

DOCKER_LIST: Schema = {
    "type": "object",
    "required": ["schemaVersion", "manifests"],
    "properties": {
        "schemaVersion": SCHEMA_VERSION_2,
        "mediaType": {"enum": ["application/vnd.docker.distribution.manifest.list.v2+json"]},
        "manifests": {"type": "array", "items": _descriptor_with(platform=PLATFORM)},
    },
}


def _nullable(schema: Schema) -> Schema:
    return {"oneOf": [schema, {"type": "null"}]}


def _config(nullable: bool) -> Schema:
    maybe = _nullable if nullable else (lambda schema: schema)
    object_map = {"type": "object", "additionalProperties": {"type": "object"}}
    history = {
        "type": "object",
        "properties": {
            "created": {"type": "string"},
            "author": {"type": "string"},
            "created_by": {"type": "string"},
            "comment": {"type": "string"},
            "empty_layer": {"type": "boolean"},
        },
    }
    return {
        "type": "object",
        "required": ["architecture", "os", "rootfs"],
        "properties": {
            "created": {"type": "string"},
            "author": {"type": "string"},
            "architecture": {"type": "string"},
            "variant": {"type": "string"},
            "os": {"type": "string"},
            "os.version": {"type": "string"},
            "os.features": maybe(STRINGS),
            "config": {
                "type": "object",
                "properties": {
                    "User": {"type": "string"},
                    "ExposedPorts": maybe(object_map),
                    "Env": maybe(STRINGS),
                    "Entrypoint": _nullable(STRINGS),
                    "Cmd": _nullable(STRINGS),
                    "Volumes": _nullable(object_map),
                    "WorkingDir": {"type": "string"},
                    "Labels": _nullable(STRING_MAP),
                    "StopSignal": {"type": "string"},
                    "ArgsEscaped": {"type": "boolean"},
                },
            },
            "rootfs": {
                "type": "object",
                "required": ["type", "diff_ids"],
                "properties": {
                    "type": {"enum": ["layers"]},
                    "diff_ids": {"type": "array", "items": DIGEST},
                },
            },
            "history": maybe({"type": "array", "items": history}),
        },
    }


OCI_CONFIG: Schema = _config(nullable=False)
DOCKER_CONFIG: Schema = _config(nullable=True)
