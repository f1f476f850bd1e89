# -*- coding: utf-8 -*-
"""The harness itself, against the real docker-registry, skopeo and the token issuer."""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import ssl

import pytest
import requests

from harness import images as I
from harness.registry import ACCEPT_ALL, Registry


def _ssl_get(reg: Registry, ctx: ssl.SSLContext) -> int:
    conn = http.client.HTTPSConnection("127.0.0.1", reg.port, timeout=5, context=ctx)
    try:
        conn.request("GET", "/v2/")
        return conn.getresponse().status
    finally:
        conn.close()


def _challenge(header: str) -> dict:
    scheme, _, rest = header.partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    params["scheme"] = scheme
    return params


# -- variants answer /v2/ as expected ---------------------------------------

def test_plain_registry_answers_v2(registry):
    assert registry.url.startswith("http://127.0.0.1:")
    status, headers, _ = registry.request("GET", "/v2/")
    assert status == 200
    assert headers["docker-distribution-api-version"] == "registry/2.0"
    assert registry.ca_cert is None and registry.username is None


def test_tls_registry_requires_the_ca(tls_registry, pki):
    assert tls_registry.url.startswith("https://")
    assert tls_registry.ca_cert == pki.ca_cert
    assert _ssl_get(tls_registry, ssl.create_default_context(cafile=pki.ca_cert)) == 200
    with pytest.raises(ssl.SSLCertVerificationError):
        _ssl_get(tls_registry, ssl.create_default_context())
    # by name too: the certificate names localhost
    assert requests.get("https://localhost:%d/v2/" % tls_registry.port, verify=pki.ca_cert,
                        timeout=5).status_code == 200


def test_selfsigned_registry_fails_without_pinning(registry_factory, pki):
    reg = registry_factory("tls", selfsigned=True)
    assert reg.ca_cert is None and reg.server_cert == pki.selfsigned_cert
    with pytest.raises(ssl.SSLCertVerificationError):
        _ssl_get(reg, ssl.create_default_context(cafile=pki.ca_cert))
    assert _ssl_get(reg, ssl.create_default_context(cafile=pki.selfsigned_cert)) == 200


def test_client_cert_registry(registry_factory, pki):
    reg = registry_factory("tls", client_auth=True)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        _ssl_get(reg, ssl.create_default_context(cafile=pki.ca_cert))
    assert reg.request("GET", "/v2/")[0] == 200  # presents pki.client_cert
    assert I.push_oci_image(reg).media_type == I.OCI_MANIFEST  # skopeo with client.cert


def test_basic_registry(basic_registry):
    assert basic_registry.scheme == "https"
    status, headers, _ = basic_registry.request("GET", "/v2/", auth=False)
    assert status == 401
    assert _challenge(headers["www-authenticate"])["scheme"] == "Basic"
    assert basic_registry.request("GET", "/v2/")[0] == 200
    bad = requests.get(basic_registry.url + "/v2/", auth=("user", "wrong"),
                       verify=basic_registry.ca_cert, timeout=5)
    assert bad.status_code == 401


def test_basic_over_plain_http_works(registry_factory):
    reg = registry_factory("basic", tls=False)
    assert reg.request("GET", "/v2/", auth=False)[0] == 401
    assert reg.request("GET", "/v2/")[0] == 200
    assert I.push_oci_image(reg).media_type == I.OCI_MANIFEST


def test_token_challenge_and_requests_flow(token_registry):
    issuer = token_registry.issuer
    r = requests.get(token_registry.url + "/v2/", timeout=5)
    assert r.status_code == 401
    ch = _challenge(r.headers["WWW-Authenticate"])
    assert ch["scheme"] == "Bearer"
    assert ch["realm"] == issuer.realm and ch["service"] == issuer.service
    # the Docker flow with requests: challenge -> token -> retry
    t = requests.get(ch["realm"], params={"service": ch["service"]}, auth=("user", "pass"),
                     timeout=5)
    assert t.status_code == 200 and t.json()["expires_in"] == 300
    assert t.json()["token"] == t.json()["access_token"]
    ok = requests.get(token_registry.url + "/v2/", timeout=5,
                      headers={"Authorization": "Bearer " + t.json()["token"]})
    assert ok.status_code == 200
    # wrong credentials are refused by the issuer
    assert requests.get(ch["realm"], params={"service": ch["service"]}, auth=("user", "nope"),
                        timeout=5).status_code == 401


def test_token_rejects_bad_tokens(token_registry):
    issuer = token_registry.issuer
    for token in (issuer.make_token("user", [], audience="other-service"),
                  issuer.make_token("user", [], issuer="someone-else"),
                  issuer.make_token("user", [], ttl=-60)):
        status, _, _ = token_registry.request("GET", "/v2/", auth=False,
                                              headers={"Authorization": "Bearer " + token})
        assert status == 401


def test_token_push_pull_with_skopeo_and_public_policy(token_registry, skopeo, image_cache):
    issuer = token_registry.issuer
    issuer.reset()
    private = I.push_oci_image(token_registry, "private/oci", cache=image_cache)
    public = I.push_oci_image(token_registry, "public/oci", cache=image_cache)
    assert issuer.requests > 0
    assert all(req.user == "user" for req in issuer.log)
    raw = skopeo.inspect_raw(token_registry, "private/oci:latest")
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == private.digest
    # anonymous: pull on public/ only, never push
    anon = ["inspect", "--raw", "--tls-verify=false", "--no-creds"]
    assert skopeo.run(*anon, "docker://%s/public/oci:latest" % token_registry.host).stdout \
        == public.manifest
    denied = skopeo.run(*anon, "docker://%s/private/oci:latest" % token_registry.host,
                        check=False)
    assert denied.returncode != 0
    assert issuer.grant(None, ["repository:public/x:pull,push"]) == [
        {"type": "repository", "name": "public/x", "actions": ["pull"]}]
    token = token_registry.token("repository:public/oci:pull,push", anonymous=True)
    status, _, _ = token_registry.request(
        "POST", "/v2/public/oci/blobs/uploads/", auth=False,
        headers={"Authorization": "Bearer " + token, "Content-Length": "0"})
    assert status == 401


# -- fixture images -----------------------------------------------------------

def test_fixture_images_media_types(fixture_images, registry):
    expected = {"oci": I.OCI_MANIFEST, "docker": I.DOCKER_MANIFEST, "index": I.OCI_INDEX,
                "list": I.DOCKER_LIST, "zstd": I.OCI_MANIFEST, "whiteout": I.OCI_MANIFEST}
    assert set(fixture_images) == set(expected)
    for name, img in fixture_images.items():
        assert img.media_type == expected[name], name
        status, headers, body = registry.request(
            "HEAD", "/v2/%s/manifests/%s" % (img.repo, img.tag), headers={"Accept": ACCEPT_ALL})
        assert status == 200, name
        assert headers["docker-content-digest"] == img.digest, name
        assert headers["content-type"] == expected[name], name
        assert img.ref == "%s/fixtures/%s:latest" % (registry.host, name)


def test_fixture_image_contents(fixture_images, registry):
    docker = json.loads(fixture_images["docker"].manifest)
    assert docker["config"]["mediaType"] == I.DOCKER_CONFIG
    assert {layer["mediaType"] for layer in docker["layers"]} == {I.DOCKER_LAYER_GZIP}
    zstd = json.loads(fixture_images["zstd"].manifest)
    assert {layer["mediaType"] for layer in zstd["layers"]} == {I.OCI_LAYER_ZSTD}
    for name, child_type in (("index", I.OCI_MANIFEST), ("list", I.DOCKER_MANIFEST)):
        img = fixture_images[name]
        assert [c.platform["architecture"] for c in img.children] == ["amd64", "arm64"]
        assert all(c.media_type == child_type for c in img.children)
        arm = img.child("arm64")
        cfg = registry.request("GET", "/v2/%s/blobs/%s" % (img.repo, arm.config))[2]
        assert json.loads(cfg)["architecture"] == "arm64"
    assert len(fixture_images["whiteout"].layers) == 3
    assert "/data/gone.txt" in fixture_images["whiteout"].expected["absent"]


def test_whiteout_layer_holds_whiteouts(fixture_images, registry):
    import gzip
    import io
    import tarfile
    img = fixture_images["whiteout"]
    blob = registry.request("GET", "/v2/%s/blobs/%s" % (img.repo, img.layers[2]))[2]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        names = tar.getnames()
    assert "data/.wh.gone.txt" in names and "opaque/.wh..wh..opq" in names


def test_blob_path_points_at_the_data(fixture_images, registry):
    img = fixture_images["oci"]
    with open(registry.blob_path(img.repo, img.layers[0]), "rb") as f:
        assert "sha256:" + hashlib.sha256(f.read()).hexdigest() == img.layers[0]
    with pytest.raises(ValueError):
        registry.blob_path(img.repo, "sha256:../../etc")


def test_large_image_small(registry_factory, image_cache):
    reg = registry_factory()
    img = I.push_large_image(reg, total_size=3 * 1024 * 1024, layers=3, cache=image_cache)
    assert len(img.layers) == 3
    sizes = [json.loads(img.manifest)["layers"][i]["size"] for i in range(3)]
    assert all(s > 1024 * 1024 for s in sizes)  # incompressible


def test_tls_push_with_cert_dir(tls_registry, skopeo, image_cache):
    img = I.push_oci_image(tls_registry, "tls/oci", cache=image_cache)
    assert skopeo.inspect_raw(tls_registry, "tls/oci@" + img.digest) == img.manifest
    no_ca = skopeo.run("inspect", "--raw", "--tls-verify=true",
                       "docker://%s/tls/oci:latest" % tls_registry.host, check=False)
    assert no_ca.returncode != 0


# -- lifecycle ----------------------------------------------------------------

def test_restart_keeps_content_and_port(registry_factory, image_cache):
    reg = registry_factory()
    img = I.push_oci_image(reg, cache=image_cache)
    port, pid = reg.port, reg.process.pid
    reg.restart()
    assert reg.port == port and reg.process.pid != pid
    status, headers, body = reg.get_manifest(img.repo, img.tag)
    assert status == 200 and body == img.manifest


def test_kill_and_start_again(registry_factory):
    reg = registry_factory("token")
    reg.kill()
    assert not reg.running
    with pytest.raises(OSError):
        reg.request("GET", "/v2/", auth=False, timeout=2)
    reg.start()
    assert reg.request("GET", "/v2/")[0] == 200
