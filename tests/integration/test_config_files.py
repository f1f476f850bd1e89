"""The configuration files users already have, against real registries: short names
through unqualified-search-registries, prefix/location rewrites, mirrors, blocked
registries, auth.json credentials and certs.d CAs."""

from __future__ import annotations

import base64
import json
import os

import pytest

from harness import images as I
from harness.engine import service

from ansible_collections.undock.oci.plugins.module_utils.common.errors import AuthenticationError, ConfigError, NotFoundError


def write_conf(tmp_path, text):
    conf = tmp_path / "conf" / "registries.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(text)
    return str(conf)


def test_short_name_through_search_registries(tmp_path, registry, registry_factory, fixture_images):
    pushed = fixture_images["oci"]
    empty = registry_factory()  # searched first, does not have the image
    conf = write_conf(tmp_path, 'unqualified-search-registries = ["%s", "%s"]\n' % (empty.host, registry.host)
                      + "".join('[[registry]]\nlocation = "%s"\ninsecure = true\n' % h
                                for h in (empty.host, registry.host)))
    svc = service(tmp_path, registry, registries_conf=conf)
    outcome = svc.present("fixtures/oci")
    assert outcome.image["name"] == pushed.ref and outcome.changed
    assert any("/v2/fixtures/oci/manifests/" in e[1] for e in empty.access_log())
    # the local lookup resolves the short name to the stored image without the registry
    assert not service(tmp_path, registry, registries_conf=conf).present("fixtures/oci", pull="never").changed
    with pytest.raises(NotFoundError, match="tried %s/fixtures/nothing:latest, %s/fixtures/nothing:latest"
                       % (empty.host, registry.host)):
        service(tmp_path, registry, registries_conf=conf).present("fixtures/nothing")


def test_prefix_rewrite_and_mirror(tmp_path, registry, registry_factory, fixture_images, image_cache):
    mirror = registry_factory()
    mirrored = I.push_oci_image(mirror, repo="fixtures/oci", cache=image_cache)
    conf = write_conf(tmp_path, """
[[registry]]
prefix = "example.test/team"
location = "%s/fixtures"
insecure = true
[[registry.mirror]]
location = "%s/fixtures"
insecure = true
""" % (registry.host, mirror.host))
    svc = service(tmp_path, registry, registries_conf=conf)
    before = len(mirror.access_log())
    outcome = svc.present("example.test/team/oci:latest")
    assert outcome.image["digest"] == mirrored.digest
    assert outcome.image["name"] == "example.test/team/oci:latest"
    assert any("/v2/fixtures/oci/manifests/" in e[1] for e in mirror.access_log()[before:])  # mirror first
    mirror.stop()  # a dead mirror falls through to the location
    svc2 = service(tmp_path / "second", registry, registries_conf=conf)
    for host in (mirror.host,):
        from ansible_collections.undock.oci.plugins.module_utils.model.reference import parse_reference
        svc2.registry.transport(parse_reference(host + "/x"), True).retries = 0
    outcome = svc2.present("example.test/team/oci:latest")
    assert outcome.image["digest"] == fixture_images["oci"].digest


def test_blocked_registry(tmp_path, registry, fixture_images):
    conf = write_conf(tmp_path, '[[registry]]\nlocation = "%s"\nblocked = true\n' % registry.host)
    with pytest.raises(ConfigError, match="blocked"):
        service(tmp_path, registry, registries_conf=conf).present(fixture_images["oci"].ref)
    assert not (tmp_path / "store").exists()


def test_auth_json_credentials(tmp_path, basic_registry, image_cache):
    pushed = I.push_oci_image(basic_registry, repo="private/authjson", cache=image_cache)
    auth_file = tmp_path / "auth.json"
    token = base64.b64encode(("%s:%s" % (basic_registry.username, basic_registry.password)).encode()).decode()
    auth_file.write_text(json.dumps({"auths": {basic_registry.host + "/private": {"auth": token}}}))
    svc = service(tmp_path, basic_registry, username=None, password=None, auth_file=str(auth_file))
    assert svc.present(pushed.ref).changed
    auth_file.write_text(json.dumps({"auths": {basic_registry.host + "/other": {"auth": token}}}))
    with pytest.raises(AuthenticationError, match="requires authentication|refused"):
        service(tmp_path / "2", basic_registry, username=None, password=None, auth_file=str(auth_file)) \
            .present(pushed.ref)


def test_certs_d_ca(tmp_path, tls_registry, image_cache, monkeypatch):
    pushed = I.push_oci_image(tls_registry, repo="certsd/app", cache=image_cache)
    certs = tmp_path / "certs.d" / tls_registry.host
    certs.mkdir(parents=True)
    (certs / "ca.crt").write_bytes(open(tls_registry.ca_cert, "rb").read())
    svc = service(tmp_path, tls_registry, ca_cert=None, certs_dir=str(tmp_path / "certs.d"))
    assert svc.present(pushed.ref).changed
