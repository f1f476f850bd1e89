# -*- coding: utf-8 -*-
"""The OCI specs' own JSON Schemas, as Debian ships them, loaded with nothing fetched.

The schema files (JSON Schema draft 4) name each other through ids under
``https://opencontainers.org/schema/...`` (the image-spec: an ``id`` of
``https://opencontainers.org/schema/image/manifest`` plus ``"$ref": "content-descriptor.json"``
is ``https://opencontainers.org/schema/image/content-descriptor.json``) or by plain
relative names (the runtime-spec's ``defs.json``). Like the image-spec's own Go loader,
every such reference is mapped by its last path segment to a file of one directory; any
other reference is refused rather than fetched.

    manifest = SpecSchema(image_spec_dir(), "image-manifest-schema.json")
    assert manifest.errors(doc) == []
    config = SpecSchema(runtime_spec_dir(), "config-schema.json")
"""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
from typing import Any, Dict, List
from urllib.parse import urlsplit

import jsonschema

IMAGE_SPEC_PACKAGE = "golang-github-opencontainers-image-spec-dev"
RUNTIME_SPEC_PACKAGE = "golang-github-opencontainers-specs-dev"
OCI_IDS = "https://opencontainers.org/schema/"


class SchemaRefError(Exception):
    """A ``$ref`` that does not name a file of the schema directory."""


def debian_schema_dir(package: str, spec: str) -> str:
    """The ``schema/`` directory of ``spec`` (image-spec, runtime-spec) that ``package`` installs."""
    try:
        listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise RuntimeError("%s is not installed (hack/apt-packages.txt; run hack/bootstrap.sh): %s" % (package, err))
    for line in listed.splitlines():
        if line.endswith("/%s/schema" % spec) and os.path.isdir(line):
            return line
    raise RuntimeError("%s installs no %s/schema directory" % (package, spec))


def image_spec_dir() -> str:
    return debian_schema_dir(IMAGE_SPEC_PACKAGE, "image-spec")


def runtime_spec_dir() -> str:
    return debian_schema_dir(RUNTIME_SPEC_PACKAGE, "runtime-spec")


class SpecSchema:
    """The schema ``root`` of ``directory``, its references resolved inside ``directory``."""

    def __init__(self, directory: str, root: str):
        self.directory = directory
        self._files: Dict[str, Any] = {}
        self.schema = self.load(root)
        kwargs: Dict[str, Any] = {"format_checker": jsonschema.FormatChecker()}
        try:
            from referencing import Registry, Resource
            from referencing.jsonschema import DRAFT4
        except ImportError:  # jsonschema < 4.18 resolves with RefResolver
            handlers = {scheme: self._retrieve_json for scheme in ("", "https", "http", "file")}
            kwargs["resolver"] = jsonschema.RefResolver(self.schema.get("id", ""), self.schema, handlers=handlers)
        else:
            def retrieve(uri: str) -> "Resource":
                return DRAFT4.create_resource(self._retrieve_json(uri))
            kwargs["registry"] = Registry(retrieve=retrieve)  # type: ignore[call-arg]
        self.validator = jsonschema.Draft4Validator(self.schema, **kwargs)

    def file_for(self, uri: str) -> str:
        """The file name a reference maps to, or SchemaRefError for anything not local."""
        parts = urlsplit(uri)
        local = not parts.scheme and not parts.netloc
        if not local and not uri.startswith(OCI_IDS):
            raise SchemaRefError("refusing to fetch %r: only %s... ids and relative names map to %s"
                                 % (uri, OCI_IDS, self.directory))
        name = posixpath.basename(parts.path)
        if not name.endswith(".json") or not os.path.isfile(os.path.join(self.directory, name)):
            raise SchemaRefError("%r names no schema file in %s" % (uri, self.directory))
        return name

    def load(self, name: str) -> Any:
        if name not in self._files:
            with open(os.path.join(self.directory, name), encoding="utf-8") as handle:
                self._files[name] = json.load(handle)
        return self._files[name]

    def _retrieve_json(self, uri: str) -> Any:
        return self.load(self.file_for(uri))

    def errors(self, document: Any) -> List[str]:
        """Every violation, as ``$.json.path: message``; empty when ``document`` is valid."""
        try:
            errors = sorted(self.validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
        except Exception as err:  # jsonschema wraps what the resolver raised: show that instead
            cause: Any = err
            while cause is not None and not isinstance(cause, SchemaRefError):
                cause = cause.__cause__ or cause.__context__
            if cause is None:
                raise
            raise cause from None
        found = []
        for error in errors:
            path = "$" + "".join("[%d]" % p if isinstance(p, int) else ".%s" % p for p in error.absolute_path)
            found.append("%s: %s" % (path, error.message))
        return found
