from __future__ import annotations

import hashlib
import json

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.errors import ManifestError
from ansible_collections.undock.oci.plugins.module_utils.model import manifest as m

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def desc(digest=D1, media_type=m.OCI_LAYER_GZIP, size=10, **extra):
    d = {"mediaType": media_type, "digest": digest, "size": size}
    d.update(extra)
    return d


def raw(doc):
    return json.dumps(doc).encode()


IMAGE = {"schemaVersion": 2, "mediaType": m.OCI_MANIFEST, "config": desc(D2, m.OCI_CONFIG), "layers": [desc()]}
INDEX = {"schemaVersion": 2, "mediaType": m.OCI_INDEX, "manifests": [
    desc(D1, m.OCI_MANIFEST, platform={"os": "linux", "architecture": "amd64"}),
    desc(D2, m.OCI_MANIFEST, platform={"os": "linux", "architecture": "arm64", "variant": "v8"}),
]}


def test_parse_keeps_bytes_and_digest():
    data = raw(IMAGE)
    parsed = m.parse_manifest(data, m.OCI_MANIFEST)
    assert parsed.raw == data
    assert parsed.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert parsed.blobs()[0]["digest"] == D2
    assert not parsed.is_index


def test_digest_mismatch_is_refused():
    with pytest.raises(ManifestError, match="does not match"):
        m.parse_manifest(raw(IMAGE), None, D1)


@pytest.mark.parametrize("doc,why", [
    ({"schemaVersion": 1, "name": "x", "fsLayers": []}, "schema 1"),
    ({"schemaVersion": 2, "config": desc(D2), "layers": [], "manifests": []}, "ambiguous"),
    (dict(INDEX, layers=[]), "CVE-2021-41190"),
    (dict(IMAGE, manifests=[]), "CVE-2021-41190"),
    (dict(IMAGE, mediaType="application/x-unknown"), "unsupported media type"),
    (dict(IMAGE, layers=[desc(digest="sha256:../../etc/passwd")]), r"\$.layers\[0\].digest: 'sha256:../../etc/passwd' is not a digest"),
    (dict(IMAGE, layers=[desc(size=-1)]), r"\$.layers\[0\].size: -1 is out of range"),
    (dict(IMAGE, layers=[desc(size=True)]), r"\$.layers\[0\].size: True is not of type integer"),
    (dict(IMAGE, config=None), r"\$.config: None is not of type object"),
    ({"schemaVersion": 2}, "neither"),
    ([1, 2], "not a JSON object"),
])
def test_rejects(doc, why):
    with pytest.raises(ManifestError, match=why):
        m.parse_manifest(raw(doc))


def test_rejects_declared_type_disagreement_and_non_json():
    with pytest.raises(ManifestError, match="served as"):
        m.parse_manifest(raw(IMAGE), m.DOCKER_MANIFEST)
    with pytest.raises(ManifestError, match="not valid JSON"):
        m.parse_manifest(b"\xff{")
    with pytest.raises(ManifestError, match="bytes"):
        m.parse_manifest(b" " * (m.MAX_MANIFEST_SIZE + 1))


def test_media_type_from_header_when_body_has_none():
    doc = dict(IMAGE)
    del doc["mediaType"]
    assert m.parse_manifest(raw(doc), m.DOCKER_MANIFEST + "; charset=utf-8").media_type == m.DOCKER_MANIFEST
    assert m.parse_manifest(raw(doc)).media_type == m.OCI_MANIFEST


def test_platform_selection():
    index = m.parse_manifest(raw(INDEX))
    assert index.select(m.normalize_platform("linux/amd64"))["digest"] == D1
    assert index.select(m.normalize_platform("arm64"))["digest"] == D2
    assert index.select(m.normalize_platform("linux/aarch64/v8"))["digest"] == D2
    assert index.select(m.normalize_platform({"os": "linux", "architecture": "arm64"}))["digest"] == D2
    with pytest.raises(ManifestError, match="available: linux/amd64, linux/arm64/v8"):
        index.select(m.normalize_platform("linux/s390x"))
    with pytest.raises(ManifestError, match="invalid platform"):
        m.normalize_platform("a/b/c/d")


def test_arm_variant_defaults():
    assert m.platform_matches(m.Platform("linux", "arm64", "v8"), {"os": "linux", "architecture": "arm64"})
    assert not m.platform_matches(m.Platform("linux", "arm", "v6"), {"os": "linux", "architecture": "arm"})
    assert m.platform_matches(m.Platform("linux", "arm", "v7"), {"os": "linux", "architecture": "arm"})


def test_docker_manifest_oci_view_keeps_blobs():
    doc = {"schemaVersion": 2, "mediaType": m.DOCKER_MANIFEST,
           "config": desc(D2, m.DOCKER_CONFIG), "layers": [desc(D1, m.DOCKER_LAYER_GZIP),
                                                           desc(D2, m.DOCKER_FOREIGN_LAYER, urls=["u"])]}
    docker = m.parse_manifest(raw(doc))
    view = m.to_oci_manifest(docker)
    assert view.media_type == m.OCI_MANIFEST and view.digest != docker.digest
    assert view.config == dict(doc["config"], mediaType=m.OCI_CONFIG)
    assert [l["mediaType"] for l in view.layers] == [m.OCI_LAYER_GZIP, m.OCI_LAYER_NONDIST_GZIP]
    assert [l["digest"] for l in view.layers] == [D1, D2] and view.layers[1]["urls"] == ["u"]
    oci = m.parse_manifest(raw(IMAGE))
    assert m.to_oci_manifest(oci) is oci
