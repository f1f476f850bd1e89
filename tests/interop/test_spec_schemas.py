"""Every OCI document we write validates against the image-spec's own schemas, the files of
Debian's golang-github-opencontainers-image-spec-dev (harness.specschema: no network).

What we write: the store (pulled from a registry and loaded from our own exports), what we
push to a registry, and oci:, oci-archive: and docker-archive: exports. Docker-typed
manifests are the bytes as pulled (the image-spec has no schema for them); the OCI view the
store indexes them through is ours and is checked, with the config it names.
"""

from __future__ import annotations

import json
import os
import tarfile
from typing import Any, Callable, Dict, List

import pytest

from harness.engine import service
from harness.specschema import SpecSchema, image_spec_dir

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_TYPES = ("application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.distribution.manifest.list.v2+json")
FIXTURES = ("oci", "docker", "index", "list", "zstd", "whiteout")


@pytest.fixture(scope="module")
def spec() -> Dict[str, SpecSchema]:
    directory = image_spec_dir()
    return {kind: SpecSchema(directory, name) for kind, name in (
        ("manifest", "image-manifest-schema.json"), ("index", "image-index-schema.json"),
        ("config", "config-schema.json"), ("layout", "image-layout-schema.json"))}


class Checker:
    """Validates documents and remembers what it checked, so a test cannot pass on nothing."""

    def __init__(self, spec: Dict[str, SpecSchema]):
        self.spec = spec
        self.checked: List[str] = []
        self.problems: List[str] = []

    def check(self, kind: str, document: Any, what: str) -> None:
        self.checked.append("%s %s" % (kind, what))
        self.problems += ["%s %s: %s" % (kind, what, problem) for problem in self.spec[kind].errors(document)]

    def walk(self, index: Dict[str, Any], read: Callable[[str], bytes], where: str) -> None:
        """index.json (or an index) and every OCI manifest, index and config it reaches."""
        self.check("index", index, where)
        pending = list(index["manifests"])
        seen = set()
        while pending:
            desc = pending.pop()
            if desc["digest"] in seen or desc["mediaType"] in DOCKER_TYPES:
                continue
            seen.add(desc["digest"])
            doc = json.loads(read(desc["digest"]))
            what = "%s in %s" % (desc["digest"], where)
            if desc["mediaType"] == OCI_INDEX:
                self.check("index", doc, what)
                pending += doc["manifests"]
            else:
                assert desc["mediaType"] == OCI_MANIFEST, what
                self.check("manifest", doc, what)
                self.check("config", json.loads(read(doc["config"]["digest"])), "config of " + what)

    def walk_directory(self, layout: str) -> None:
        def read(digest: str) -> bytes:
            algorithm, hexpart = digest.split(":")
            with open(os.path.join(layout, "blobs", algorithm, hexpart), "rb") as handle:
                return handle.read()
        with open(os.path.join(layout, "oci-layout")) as handle:
            self.check("layout", json.load(handle), layout + "/oci-layout")
        with open(os.path.join(layout, "index.json")) as handle:
            self.walk(json.load(handle), read, layout)

    def walk_oci_archive(self, path: str) -> None:
        with tarfile.open(path) as tar:
            def read(digest: str) -> bytes:
                return tar.extractfile("blobs/%s/%s" % tuple(digest.split(":"))).read()
            self.check("layout", json.load(tar.extractfile("oci-layout")), path + ":oci-layout")
            self.walk(json.load(tar.extractfile("index.json")), read, path)

    def walk_docker_archive(self, path: str) -> None:
        """docker save's manifest.json is not an OCI document; the configs in it are."""
        with tarfile.open(path) as tar:
            for item in json.load(tar.extractfile("manifest.json")):
                self.check("config", json.load(tar.extractfile(item["Config"])), "%s:%s" % (path, item["Config"]))

    def assert_valid(self, at_least: int) -> None:
        assert self.problems == []
        assert len(self.checked) >= at_least, self.checked


def test_the_store_holds_only_valid_oci_documents(tmp_path, registry, fixture_images, spec):
    svc = service(tmp_path, registry)
    for name in FIXTURES:
        svc.present(fixture_images[name].ref)
    # loaded back from our own exports: the docker-archive source synthesises its manifest
    for kind in ("oci-archive", "docker-archive"):
        target = "%s:%s:%s" % (kind, tmp_path / ("export-" + kind), "exported:1" if kind == "docker-archive" else "x")
        svc.export(fixture_images["docker"].ref, target)
        svc.present("%s/loaded/%s:1" % (registry.host, kind), source=target)
    checker = Checker(spec)
    checker.walk_directory(str(tmp_path / "store"))
    # oci-layout, index.json, and a manifest and its config for each of the 7 distinct images
    # (the docker image loaded back from the oci-archive is the same OCI view)
    checker.assert_valid(at_least=2 + 2 * 7)


def test_what_we_push_is_valid(tmp_path, registry, fixture_images, spec):
    svc = service(tmp_path, registry)
    checker = Checker(spec)
    for name in FIXTURES:
        svc.present(fixture_images[name].ref)
        target = "%s/pushed/%s:1" % (registry.host, name)
        assert svc.push(fixture_images[name].ref, target=target).changed
        status, headers, body = registry.get_manifest("pushed/" + name, "1")
        assert status == 200
        media_type = headers["content-type"].split(";")[0]
        if media_type in DOCKER_TYPES:
            continue
        manifest = json.loads(body)
        checker.check("manifest", manifest, target)
        status, _, config = registry.request("GET", "/v2/pushed/%s/blobs/%s" % (name, manifest["config"]["digest"]),
                                             scope="repository:pushed/%s:pull" % name)
        assert status == 200
        checker.check("config", json.loads(config), "config of " + target)
    # oci, index (its platform's manifest), zstd and whiteout are OCI images
    checker.assert_valid(at_least=2 * 4)


@pytest.mark.parametrize("name", FIXTURES)
def test_what_we_export_is_valid(tmp_path, registry, fixture_images, spec, name):
    svc = service(tmp_path, registry)
    ref = fixture_images[name].ref
    svc.present(ref)
    checker = Checker(spec)
    svc.export(ref, "oci:%s:a" % (tmp_path / "layout"))
    svc.export(ref, "oci:%s:b" % (tmp_path / "layout"))  # a second entry in the same index.json
    checker.walk_directory(str(tmp_path / "layout"))
    svc.export(ref, "oci-archive:%s:a" % (tmp_path / "image.tar"))
    checker.walk_oci_archive(str(tmp_path / "image.tar"))
    svc.export(ref, "docker-archive:%s:exported/%s:1" % (tmp_path / "docker.tar", name))
    checker.walk_docker_archive(str(tmp_path / "docker.tar"))
    # per layout: oci-layout, index.json, and (Docker images keep their Docker manifest) an OCI
    # manifest and its config; and the docker-archive's config
    per_layout = 2 if fixture_images[name].media_type in DOCKER_TYPES else 4
    checker.assert_valid(at_least=2 * per_layout + 1)
