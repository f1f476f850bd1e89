# -*- coding: utf-8 -*-
"""policy.json: scopes by longest match, locations, requirement parsing and refusals; the
simple-signing payload's strictness (containers/image's sigstore_payload_test.go cases)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.errors import (ConfigError, PolicyRejectedError,
                                                                               SigningError)
from ansible_collections.undock.oci.plugins.module_utils.model.reference import parse_reference
from ansible_collections.undock.oci.plugins.module_utils.signing import payload, policy as policy_mod
from ansible_collections.undock.oci.plugins.module_utils.signing.location import ImageLocation, docker_scopes
from ansible_collections.undock.oci.plugins.module_utils.signing.policy import UnverifiedImage, load_policy, parse_policy

pytestmark = pytest.mark.unit

FIXTURE_POLICY = os.path.join(os.path.dirname(os.path.dirname(__file__)), "testdata", "sigstore",
                              "containers-image", "policy.json")
ACCEPT = [{"type": "insecureAcceptAnything"}]
REJECT = [{"type": "reject"}]


def image(ref: str) -> UnverifiedImage:
    return UnverifiedImage(parse_reference(ref), b"{}", lambda: [])


def test_scopes_most_specific_first():
    assert docker_scopes(parse_reference("a.b.example.com:5000/ns/sub/repo:tag")) == [
        "a.b.example.com:5000/ns/sub/repo:tag", "a.b.example.com:5000/ns/sub/repo", "a.b.example.com:5000/ns/sub",
        "a.b.example.com:5000/ns", "a.b.example.com:5000", "*.b.example.com", "*.example.com", "*.com"]
    digest = "sha256:" + "b" * 64
    assert docker_scopes(parse_reference("busybox@" + digest))[:2] == [
        "docker.io/library/busybox@" + digest, "docker.io/library/busybox"]


@pytest.mark.parametrize("ref, scope", [
    ("example.com/ns/repo:1", 'transports.docker["example.com/ns/repo:1"]'),
    ("example.com/ns/repo:2", 'transports.docker["example.com/ns"]'),
    ("example.com/other:1", 'transports.docker["example.com"]'),
    ("registry.example.com/x:1", 'transports.docker["*.example.com"]'),
    ("quay.io/x:1", 'transports.docker[""]'),
])
def test_longest_match_wins(ref, scope):
    pol = parse_policy({"default": REJECT, "transports": {"docker": {
        "example.com/ns/repo:1": ACCEPT, "example.com/ns": ACCEPT, "example.com": ACCEPT, "*.example.com": ACCEPT,
        "": ACCEPT}}}, "p")
    assert pol.requirements_for(parse_reference(ref))[0] == scope


def test_path_scopes_are_the_resolved_path_then_its_parents(tmp_path):
    real = tmp_path / "real" / "images"
    real.mkdir(parents=True)
    (tmp_path / "link").symlink_to(real)
    where = ImageLocation.of_file("oci", str(tmp_path / "link" / "layout"))
    assert where.path == str(real / "layout")
    assert where.scopes()[:3] == [str(real / "layout"), str(real), str(tmp_path / "real")]
    assert where.scopes()[-1] != "/" and all(s.startswith("/") for s in where.scopes())
    assert ImageLocation.of_file("docker-archive", str(real / "a.tar")).scopes() == []
    pol = parse_policy({"default": REJECT, "transports": {"oci": {str(real): ACCEPT, "": REJECT},
                                                          "docker-archive": {"": ACCEPT}}}, "p")
    assert pol.requirements_at(where)[0] == 'transports.oci["%s"]' % real
    assert pol.requirements_at(ImageLocation.of_file("oci", "/elsewhere"))[0] == 'transports.oci[""]'
    assert pol.requirements_at(ImageLocation.of_file("oci-archive", str(real / "a.tar")))[0] == "default"
    assert pol.requirements_at(ImageLocation.of_file("docker-archive", "/x.tar"))[0] == 'transports.docker-archive[""]'


def test_default_applies_without_a_docker_scope_and_reject_says_where():
    pol = parse_policy({"default": REJECT, "transports": {"docker": {"example.com": ACCEPT}}}, "/etc/p.json")
    pol.check(image("example.com/a:1"))
    with pytest.raises(PolicyRejectedError, match=r"quay.io/a:1 rejected by the policy /etc/p.json, scope default, "
                                                  r"requirement 1 \(reject\)"):
        pol.check(image("quay.io/a:1"))


def test_every_requirement_of_a_scope_must_hold():
    pol = parse_policy({"default": ACCEPT + REJECT}, "p")
    with pytest.raises(PolicyRejectedError, match="requirement 2 "):
        pol.check(image("quay.io/a:1"))


def test_containers_image_fixture_policy_parses_and_refuses_gpg_scopes():
    pol = load_policy(FIXTURE_POLICY)
    pol.check(image("example.com/playground/x:1"))
    with pytest.raises(PolicyRejectedError, match=r"signedBy.*GPG signatures \(signedBy\) are not supported"):
        pol.check(image("example.com/production/x:1"))
    with pytest.raises(PolicyRejectedError, match="signedBy"):
        pol.check(image("www.access.redhat.com/x:1"))   # *.access.redhat.com
    with pytest.raises(PolicyRejectedError, match="scope default, requirement 1 \\(reject\\)"):
        pol.check(image("quay.io/x:1"))
    # keyData "nonsense" is not a key: a clear configuration error naming the source
    with pytest.raises(ConfigError, match="keyData"):
        pol.check(image("example.com/sigstore/key-data-example:1"))


@pytest.mark.parametrize("doc, message", [
    ({}, "no default"),
    ({"default": []}, "non-empty list"),
    ({"default": [{"type": "bogus"}]}, "unknown requirement type 'bogus'"),
    ({"default": [{"type": "reject", "x": 1}]}, "reject takes no other field"),
    ({"default": ACCEPT, "extra": 1}, "unknown top-level"),
    ({"default": [{"type": "sigstoreSigned"}]}, "exactly one of keyPath"),
    ({"default": [{"type": "sigstoreSigned", "keyPaths": []}]}, "non-empty list"),
    ({"default": [{"type": "sigstoreSigned", "keyData": "%%%"}]}, "not base64"),
    ({"default": [{"type": "sigstoreSigned", "keyPath": "/k", "extra": 1}]}, "unknown field"),
    ({"default": [{"type": "sigstoreSigned", "keyPath": "/k", "signedIdentity": {"type": "x"}}]},
     "unknown signedIdentity type"),
    ({"default": [{"type": "sigstoreSigned", "keyPath": "/k",
                   "signedIdentity": {"type": "exactReference", "dockerReference": "example.com/a"}}]},
     "neither tag nor digest"),
    ({"default": [{"type": "sigstoreSigned", "keyPath": "/k", "signedIdentity": {"type": "remapIdentity"}}]},
     "non-empty 'prefix'"),
    ({"default": ACCEPT, "transports": {"docker": {"*.a/b": ACCEPT}}}, "wildcard scope"),
    ({"default": ACCEPT, "transports": {"oci": {"relative/dir": ACCEPT}}}, "must be an absolute path"),
    ({"default": ACCEPT, "transports": {"oci-archive": {"/": ACCEPT}}}, 'scope "/" is not allowed'),
    ({"default": ACCEPT, "transports": {"oci": {"/srv/../x/": ACCEPT}}}, "not a canonical path; write '/x'"),
    ({"default": ACCEPT, "transports": {"docker-archive": {"/srv/a.tar": ACCEPT}}}, 'no scopes except its default ""'),
])
def test_malformed_policies_name_the_problem(doc, message):
    with pytest.raises(ConfigError, match=message):
        parse_policy(doc, "p")


def test_missing_key_file_is_a_config_error_naming_it(tmp_path):
    pol = parse_policy({"default": [{"type": "sigstoreSigned", "keyPath": str(tmp_path / "none.pub")}]}, "p")
    with pytest.raises(ConfigError, match="none.pub"):
        pol.check(image("example.com/a:1"))


def test_policy_locations(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(policy_mod, "SYSTEM_POLICY", str(tmp_path / "etc-policy.json"))
    assert load_policy() is None
    (tmp_path / "etc-policy.json").write_text(json.dumps({"default": REJECT}))
    assert load_policy().source == str(tmp_path / "etc-policy.json")
    user = tmp_path / ".config" / "containers" / "policy.json"
    user.parent.mkdir(parents=True)
    user.write_text(json.dumps({"default": ACCEPT}))
    assert load_policy().source == str(user)
    assert load_policy({"default": REJECT}).source == "given inline"
    other = tmp_path / "other.json"
    other.write_text("{not json")
    with pytest.raises(ConfigError, match="other.json is not valid JSON"):
        load_policy(str(other))
    with pytest.raises(ConfigError, match="cannot read policy"):
        load_policy(str(tmp_path / "missing.json"))


# -- payload strictness ----------------------------------------------------------------------------
VALID = json.loads(payload.make_payload("reference#@!", "sha256:" + "a" * 64))


def _broken(fn):
    doc = json.loads(json.dumps(VALID))
    fn(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize("fn", [
    lambda v: v.pop("critical"), lambda v: v.pop("optional"), lambda v: v.update(unexpected=1),
    lambda v: v.update(critical=1), lambda v: v.update(optional=1),
    lambda v: v["critical"].pop("type"), lambda v: v["critical"].pop("image"), lambda v: v["critical"].pop("identity"),
    lambda v: v["critical"].update(unexpected=1), lambda v: v["critical"].update(type=1),
    lambda v: v["critical"].update(type="unexpected"), lambda v: v["critical"].update(image=1),
    lambda v: v["critical"]["image"].pop("docker-manifest-digest"),
    lambda v: v["critical"]["image"].update(unexpected=1),
    lambda v: v["critical"]["image"].update({"docker-manifest-digest": 1}),
    lambda v: v["critical"]["image"].update({"docker-manifest-digest": "sha256:../.."}),
    lambda v: v["critical"].update(identity=1), lambda v: v["critical"]["identity"].pop("docker-reference"),
    lambda v: v["critical"]["identity"].update(unexpected=1),
    lambda v: v["critical"]["identity"].update({"docker-reference": 1}),
    lambda v: v["optional"].update(creator=1), lambda v: v["optional"].update(timestamp="unexpected"),
    lambda v: v["optional"].update(timestamp=0.5),
])
def test_payload_corruptions_are_refused(fn):
    with pytest.raises(SigningError):
        payload.parse_payload(_broken(fn))


def test_payload_accepts_unknown_optional_fields_and_null_optional():
    parsed = payload.parse_payload(_broken(lambda v: v["optional"].update(unexpected=1)))
    assert parsed.docker_reference == "reference#@!" and parsed.creator == payload.CREATOR
    cosign = (b'{"critical":{"identity":{"docker-reference":"192.168.64.2:5000/cosign-signed-multi"},"image":'
              b'{"docker-manifest-digest":"sha256:43955d6857268cc948ae9b370b221091057de83c4962da0826f9a2bdc9bd6b44"},'
              b'"type":"cosign container image signature"},"optional":null}')
    assert payload.parse_payload(cosign).timestamp is None
    for bad in (b"&", b"1", b'{"critical":{},"critical":{}}'):
        with pytest.raises(SigningError):
            payload.parse_payload(bad)
