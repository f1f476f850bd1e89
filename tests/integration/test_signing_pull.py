# -*- coding: utf-8 -*-
"""The trust policy in the one copy path, on a real registry: oci_image's engine signs what it
pushes; a fresh store pulls it under a sigstoreSigned policy; an unsigned image, the wrong key and
another identity are refused before any layer is fetched, and leave nothing in the store."""

from __future__ import annotations

import base64
import os

import pytest

from harness import images as I
from harness.engine import service

from ansible_collections.undock.oci.plugins.module_utils.common.errors import PolicyRejectedError
from ansible_collections.undock.oci.plugins.module_utils.signing import keys
from ansible_collections.undock.oci.plugins.module_utils.signing.policy import parse_policy

pytestmark = pytest.mark.integration


def _keypair(tmp_path, name: str):
    private, public = keys.generate_key_pair("pw")
    path = str(tmp_path / name)
    with open(path + ".key", "wb") as handle:
        handle.write(private)
    return path + ".key", public


def _policy(public: bytes, identity=None):
    req = {"type": "sigstoreSigned", "keyData": base64.b64encode(public).decode()}
    if identity:
        req["signedIdentity"] = identity
    return parse_policy({"default": [{"type": "reject"}],
                         "transports": {"docker": {"": [req]}}}, "test")


def _assert_store_empty(root: str) -> None:
    blobs = os.path.join(root, "blobs", "sha256")
    assert not os.path.isdir(blobs) or os.listdir(blobs) == []
    index = os.path.join(root, "index.json")
    if os.path.exists(index):
        with open(index) as handle:
            assert '"manifests": []' in handle.read().replace('"manifests":[]', '"manifests": []')


def test_sign_on_push_then_verified_pull(tmp_path, registry_factory, image_cache):
    reg = registry_factory()
    pushed = I.push_oci_image(reg, repo="src/app", cache=image_cache)
    key_path, public = _keypair(tmp_path, "signer")
    publisher = service(tmp_path / "pub", reg)
    publisher.present(pushed.ref)
    target = "%s/signed/app:1.0" % reg.host
    publisher.present(target, source=pushed.ref)
    check = service(tmp_path / "pub", reg, check_mode=True).push(target, sign_by=key_path, sign_passphrase="pw")
    assert check.changed and any(a.startswith("would sign") for a in check.actions)
    first = publisher.push(target, sign_by=key_path, sign_passphrase="pw")
    assert first.changed and any(a.startswith("signed %s as %s" % (pushed.digest, target)) for a in first.actions)
    again = publisher.push(target, sign_by=key_path, sign_passphrase="pw")
    assert not again.changed and again.actions == []

    consumer = service(tmp_path / "consumer", reg, policy=_policy(public))
    outcome = consumer.present(target)
    assert outcome.changed and outcome.after == {"digest": pushed.digest}


def test_rejections_fetch_no_layer_and_leave_nothing(tmp_path, registry_factory, image_cache):
    reg = registry_factory()
    pushed = I.push_oci_image(reg, repo="signed/app", cache=image_cache)
    I.copy_layout(reg, image_cache.get("oci", I._simple("oci")), "signed/app", "other")
    key_path, public = _keypair(tmp_path, "signer")
    other_key, other_public = _keypair(tmp_path, "other")
    unsigned = I.push_docker_image(reg, repo="plain/app", cache=image_cache)
    publisher = service(tmp_path / "pub", reg)
    publisher.present(pushed.ref)
    publisher.push(pushed.ref, sign_by=key_path, sign_passphrase="pw")
    layers = pushed.layers + unsigned.layers

    cases = [
        (unsigned.ref, _policy(public), r"requirement 1 \(sigstoreSigned .*\): no signature$"),
        (pushed.ref, _policy(other_public), "bad signature: cryptographic signature verification failed"),
        ("%s/signed/app:other" % reg.host, _policy(public), "signed for another identity"),
        (pushed.ref, parse_policy({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k"}]}, "gpg"),
         r"GPG signatures \(signedBy\) are not supported"),
    ]
    for number, (ref, pol, reason) in enumerate(cases):
        root = str(tmp_path / ("store%d" % number))
        before = len(reg.access_log())
        for check_mode in (True, False):
            with pytest.raises(PolicyRejectedError, match=reason):
                service(tmp_path, reg, storage_root=root, policy=pol, check_mode=check_mode).present(ref)
        assert _blob_gets_since(reg, before, layers) == [], ref
        _assert_store_empty(root)
    # the other tag is accepted when the policy trusts the repository, not the exact tag
    before = len(reg.access_log())
    service(tmp_path, reg, storage_root=str(tmp_path / "ok"),
            policy=_policy(public, {"type": "matchRepository"})).present("%s/signed/app:other" % reg.host)
    assert len(_blob_gets_since(reg, before, layers)) == len(pushed.layers)  # the log does show layer fetches


def _blob_gets_since(reg, start, digests):
    return [p for (m, p, s) in reg.access_log()[start:] if m == "GET" and "/blobs/" in p
            and any(d.split(":")[1] in p for d in digests)]


def test_a_no_op_run_never_reads_the_policy(tmp_path, registry_factory, image_cache):
    """The no-op oci_image run (image present, pull: missing) costs nothing for signing: the
    policy is not even loaded (a loader that fails proves it), so cryptography is not imported."""
    reg = registry_factory()
    pushed = I.push_oci_image(reg, repo="src/app", cache=image_cache)
    service(tmp_path, reg).present(pushed.ref)

    def broken_policy():
        raise AssertionError("policy loaded on a no-op run")

    outcome = service(tmp_path, reg, policy=broken_policy).present(pushed.ref)
    assert not outcome.changed
    with pytest.raises(AssertionError, match="policy loaded"):
        service(tmp_path, reg, policy=broken_policy).present(pushed.ref, pull="always")
