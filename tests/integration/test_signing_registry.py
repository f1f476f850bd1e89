# -*- coding: utf-8 -*-
"""Sigstore signatures on a real docker-registry: what we sign a fresh client verifies; an
unsigned image, a tampered payload, a signature moved to another image's tag, the wrong key and
another identity are each rejected with the reason; signatures accumulate; signing again is a no-op;
the attachment on the wire is what cosign and containers/image write."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from harness import images as I
from harness.engine import service

from ansible_collections.undock.oci.plugins.module_utils.common.errors import PolicyRejectedError
from ansible_collections.undock.oci.plugins.module_utils.model.reference import parse_reference
from ansible_collections.undock.oci.plugins.module_utils.signing import attachments, keys, sigstore
from ansible_collections.undock.oci.plugins.module_utils.signing.policy import UnverifiedImage, parse_policy

pytestmark = pytest.mark.integration


def _key() -> Any:
    return keys.load_private_key(keys.generate_key_pair("pw")[0], "pw")


def _policy(*signing_keys: Any, identity: Any = None) -> Any:
    req = {"type": "sigstoreSigned",
           "keyDatas": [base64.b64encode(keys.public_key_pem(k)).decode() for k in signing_keys]}
    if identity:
        req["signedIdentity"] = identity
    return parse_policy({"default": [req]}, "test")


class Setup:
    def __init__(self, tmp_path: Any, reg: Any, cache: Any, repo: str = "signed/app", tag: str = "latest"):
        self.pushed = I.push_oci_image(reg, repo=repo, tag=tag, cache=cache)
        self.ref = parse_reference(self.pushed.ref)
        self.context = service(tmp_path, reg).registry
        self.client = self.context.client(self.ref, push=True)

    def image(self, ref: Any = None) -> UnverifiedImage:
        """What a fresh pull sees: a new client, the manifest, the signatures under its tag."""
        ref = ref or self.ref
        client = self.context.client(ref)
        manifest = client.get_manifest(ref.manifest_reference)
        return UnverifiedImage(ref, manifest.raw, lambda: attachments.read_signatures(client, manifest.digest))


def test_signed_on_push_verifies_on_pull_and_rejections_say_why(tmp_path, registry_factory, image_cache):
    reg = registry_factory()
    s = Setup(tmp_path, reg, image_cache)
    key, other_key = _key(), _key()
    identity = str(s.ref)
    with pytest.raises(PolicyRejectedError, match=r"requirement 1 \(sigstoreSigned.*\): no signature$"):
        _policy(key).check(s.image())

    assert attachments.sign_in_registry(s.client, key, identity, s.pushed.digest)
    _policy(key).check(s.image())
    with pytest.raises(PolicyRejectedError, match="bad signature: cryptographic signature verification failed"):
        _policy(other_key).check(s.image())

    # another tag of the same manifest: matchRepoDigestOrExact refuses, matchRepository accepts
    I.copy_layout(reg, image_cache.get("oci", I._simple("oci")), "signed/app", "other")
    other_tag = s.ref.with_tag("other")
    with pytest.raises(PolicyRejectedError, match="signed for another identity"):
        _policy(key).check(s.image(other_tag))
    _policy(key, identity={"type": "matchRepository"}).check(s.image(other_tag))
    # pulled by digest: the repository must match
    _policy(key).check(s.image(s.ref.with_tag(None).with_digest(s.pushed.digest)))


def test_tampered_payload_and_moved_signature_are_rejected(tmp_path, registry_factory, image_cache):
    reg = registry_factory()
    s = Setup(tmp_path, reg, image_cache)
    key = _key()
    attachments.sign_in_registry(s.client, key, str(s.ref), s.pushed.digest)
    (good,) = attachments.read_signatures(s.client, s.pushed.digest)

    tampered = sigstore.Signature(good.mime_type, good.payload.replace(b"signed/app", b"signed/apq"), good.annotations)
    attachments.write_signatures(s.client, s.pushed.digest, [tampered])
    with pytest.raises(PolicyRejectedError, match="bad signature"):
        _policy(key).check(s.image())

    # a different image, carrying the first image's valid signature under its own tag
    other = I.push_docker_image(reg, repo="signed/app", tag="docker", cache=image_cache)
    assert other.digest != s.pushed.digest
    attachments.write_signatures(s.client, other.digest, [good])
    with pytest.raises(PolicyRejectedError, match="signed for another digest, %s, not %s" % (s.pushed.digest, other.digest)):
        _policy(key, identity={"type": "matchRepository"}).check(s.image(parse_reference(other.ref)))


def test_signatures_accumulate_and_signing_again_is_a_no_op(tmp_path, registry_factory, image_cache):
    reg = registry_factory()
    s = Setup(tmp_path, reg, image_cache)
    first, second = _key(), _key()
    tag = sigstore.signature_tag(s.pushed.digest)
    assert attachments.sign_in_registry(s.client, first, str(s.ref), s.pushed.digest)
    before = reg.get_manifest("signed/app", tag)[2]
    assert not attachments.sign_in_registry(s.client, first, str(s.ref), s.pushed.digest)
    assert reg.get_manifest("signed/app", tag)[2] == before
    assert attachments.sign_in_registry(s.client, second, str(s.ref), s.pushed.digest, check_mode=True)
    assert reg.get_manifest("signed/app", tag)[2] == before          # check mode wrote nothing
    assert attachments.sign_in_registry(s.client, second, str(s.ref), s.pushed.digest)
    assert len(attachments.read_signatures(s.client, s.pushed.digest)) == 2
    _policy(first).check(s.image())
    _policy(second).check(s.image())
    assert not attachments.sign_in_registry(s.client, second, str(s.ref), s.pushed.digest)


def test_attachment_on_the_wire_is_what_cosign_writes(tmp_path, registry_factory, image_cache):
    reg = registry_factory()
    s = Setup(tmp_path, reg, image_cache)
    attachments.sign_in_registry(s.client, _key(), str(s.ref), s.pushed.digest)
    status, headers, body = reg.get_manifest("signed/app", "sha256-%s.sig" % s.pushed.digest.split(":")[1])
    assert status == 200
    manifest = json.loads(body)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert set(layer["annotations"]) == {"dev.cosignproject.cosign/signature"}
    payload = json.loads(s.client.read_blob(layer["digest"]))
    assert payload["critical"] == {"identity": {"docker-reference": str(s.ref)},
                                   "image": {"docker-manifest-digest": s.pushed.digest},
                                   "type": "cosign container image signature"}
    config = json.loads(s.client.read_blob(manifest["config"]["digest"]))
    assert config["rootfs"] == {"type": "layers", "diff_ids": [layer["digest"]]}
    # and the layer, in containers/image's dir: form, is the fixture format
    sig = attachments.read_signatures(s.client, s.pushed.digest)[0]
    assert sigstore.dir_signature_bytes(sig).startswith(b'\x00sigstore-json\n{"mimeType":'
                                                        b'"application/vnd.dev.cosign.simplesigning.v1+json","payload":')
