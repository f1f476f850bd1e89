# -*- coding: utf-8 -*-
"""Our verifier against containers/image's own cosign fixtures and cosign's own test keys:
the same verdict containers/image's tests assert (signature/policy_eval_sigstore_test.go), and
the same bytes when the data round-trips through our reader and writer."""

from __future__ import annotations

import base64
import json
import os

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.errors import (ConfigError, PolicyRejectedError,
                                                                               SigningError)
from ansible_collections.undock.oci.plugins.module_utils.model.reference import parse_reference
from ansible_collections.undock.oci.plugins.module_utils.signing import keys, payload, sigstore
from ansible_collections.undock.oci.plugins.module_utils.signing.policy import UnverifiedImage, parse_policy

pytestmark = pytest.mark.unit

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "testdata", "sigstore")
CI = os.path.join(DATA, "containers-image")
COSIGN_PUB = os.path.join(CI, "cosign.pub")
COSIGN2_PUB = os.path.join(CI, "cosign2.pub")
REPO = "192.168.64.2:5000/cosign-signed-single-sample"


def read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def dir_image(name: str, ref: str) -> UnverifiedImage:
    """A containers/image ``dir:`` fixture as the policy sees an image: manifest and signatures."""
    directory = os.path.join(CI, name)
    manifest_path = os.path.join(directory, "manifest.json")
    raw = read(manifest_path) if os.path.exists(manifest_path) else b""
    signatures = []
    for number in range(1, 10):
        path = os.path.join(directory, "signature-%d" % number)
        if not os.path.exists(path):
            break
        sig = sigstore.parse_dir_signature(read(path), path)
        if sig is not None:
            signatures.append(sig)
    return UnverifiedImage(parse_reference(ref, default_tag=None), raw, lambda: signatures)


def policy(requirement: dict):
    return parse_policy({"default": [requirement]}, "test")


def sigstore_req(identity: dict, **key: object) -> dict:
    req = {"type": "sigstoreSigned", "signedIdentity": identity}
    req.update(key or {"keyPath": COSIGN_PUB})
    return req


MATCH_REPOSITORY = {"type": "matchRepository"}
MATCH_EXACT = {"type": "matchExact"}
KEY_DATA = base64.b64encode(read(COSIGN_PUB)).decode()
KEY_DATA2 = base64.b64encode(read(COSIGN2_PUB)).decode()


# -- TestPRSigstoreSignedIsRunningImageAllowed ---------------------------------------------------
@pytest.mark.parametrize("fixture, ref, identity", [
    ("dir-img-cosign-valid", REPO, MATCH_REPOSITORY),
    ("dir-img-cosign-valid-2", REPO, MATCH_REPOSITORY),
    ("dir-img-cosign-mixed", REPO, MATCH_REPOSITORY),                  # one invalid, then one valid
    ("dir-img-cosign-valid-with-tag", "192.168.64.2:5000/skopeo-signed:tag", MATCH_EXACT),
])
def test_allowed_like_containers_image(fixture, ref, identity):
    policy(sigstore_req(identity)).check(dir_image(fixture, ref))


@pytest.mark.parametrize("fixture, ref, identity, reason", [
    ("dir-img-cosign-valid", "testing/manifest:notlatest", MATCH_REPOSITORY, "signed for another identity"),
    ("dir-img-cosign-valid-2", "this/does-not:match", MATCH_REPOSITORY, "signed for another identity"),
    ("dir-img-cosign-other-attachment", "testing/manifest:latest", MATCH_REPOSITORY, "no signature"),
    ("dir-img-cosign-valid-with-tag", "192.168.64.2:5000/skopeo-signed:othertag", MATCH_EXACT,
     "signed for another identity"),
    # cosign signs name-only identities, which matchExact never accepts
    ("dir-img-cosign-valid", REPO, MATCH_EXACT, "signed for another identity"),
    ("dir-img-cosign-modified-manifest", REPO, MATCH_REPOSITORY, "signed for another digest"),
    ("dir-img-cosign-no-manifest", REPO, MATCH_REPOSITORY, "manifest cannot be checked"),
    ("dir-img-cosign-manifest-digest-error", REPO, MATCH_REPOSITORY, "manifest cannot be checked"),
])
def test_rejected_like_containers_image(fixture, ref, identity, reason):
    with pytest.raises(PolicyRejectedError) as err:
        policy(sigstore_req(identity)).check(dir_image(fixture, ref))
    assert reason in str(err.value)
    assert "requirement 1 (sigstoreSigned" in str(err.value)


def test_unsigned_image_is_rejected_for_no_signature():
    image = UnverifiedImage(parse_reference(REPO), read(os.path.join(CI, "dir-img-cosign-valid", "manifest.json")),
                            lambda: [])
    with pytest.raises(PolicyRejectedError, match="requirement 1 .*: no signature$"):
        policy(sigstore_req(MATCH_REPOSITORY)).check(image)


# -- TestPRrSigstoreSignedIsSignatureAccepted ----------------------------------------------------
@pytest.mark.parametrize("key", [
    {"keyPath": COSIGN_PUB},
    {"keyPaths": [COSIGN_PUB, COSIGN2_PUB]},
    {"keyPaths": [COSIGN2_PUB, COSIGN_PUB]},
    {"keyData": KEY_DATA},
    {"keyDatas": [KEY_DATA, KEY_DATA2]},
    {"keyDatas": [KEY_DATA2, KEY_DATA]},
])
def test_every_key_form_accepts_the_valid_signature(key):
    policy(sigstore_req(MATCH_REPOSITORY, **key)).check(dir_image("dir-img-cosign-valid", REPO))


def test_only_the_other_key_is_a_bad_signature():
    with pytest.raises(PolicyRejectedError, match="bad signature: cryptographic signature verification failed"):
        policy(sigstore_req(MATCH_REPOSITORY, keyPath=COSIGN2_PUB)).check(dir_image("dir-img-cosign-valid", REPO))


def test_unknown_key_signature_is_rejected():
    image = dir_image("dir-img-cosign-valid", REPO)
    unknown = sigstore.parse_dir_signature(read(os.path.join(CI, "unknown-cosign-key.signature")))
    image = UnverifiedImage(image.reference, image.manifest_raw, lambda: [unknown])
    with pytest.raises(PolicyRejectedError, match="bad signature"):
        policy(sigstore_req(MATCH_REPOSITORY)).check(image)


@pytest.mark.parametrize("annotations", [{}, {sigstore.SIGNATURE_ANNOTATION: base64.b64encode(b"invalid signature").decode()}])
def test_missing_or_invalid_cryptographic_signature_is_rejected(annotations):
    image = dir_image("dir-img-cosign-valid", REPO)
    valid = image.signatures()[0]
    broken = sigstore.Signature(valid.mime_type, valid.payload, annotations)
    image = UnverifiedImage(image.reference, image.manifest_raw, lambda: [broken])
    with pytest.raises(PolicyRejectedError, match="bad signature"):
        policy(sigstore_req(MATCH_REPOSITORY)).check(image)


def test_tampered_payload_is_a_bad_signature():
    image = dir_image("dir-img-cosign-valid", REPO)
    valid = image.signatures()[0]
    tampered = sigstore.Signature(valid.mime_type, valid.payload.replace(b"single", b"singlf"), valid.annotations)
    image = UnverifiedImage(image.reference, image.manifest_raw, lambda: [tampered])
    with pytest.raises(PolicyRejectedError, match="bad signature"):
        policy(sigstore_req(MATCH_REPOSITORY)).check(image)


def test_exact_reference_that_does_not_match_is_rejected():
    req = sigstore_req({"type": "exactReference", "dockerReference": "this/does-not:match"})
    with pytest.raises(PolicyRejectedError, match="another identity"):
        policy(req).check(dir_image("dir-img-cosign-valid", REPO))


def test_key_path_and_key_data_together_are_a_config_error():
    with pytest.raises(ConfigError, match="exactly one of keyPath"):
        policy({"type": "sigstoreSigned", "keyPath": COSIGN_PUB, "keyData": KEY_DATA})


def test_a_key_path_that_is_not_a_key_names_the_file():
    req = sigstore_req(MATCH_REPOSITORY, keyPath=os.path.join(CI, "dir-img-cosign-valid", "signature-1"))
    with pytest.raises(ConfigError, match="signature-1"):
        policy(req).check(dir_image("dir-img-cosign-valid", REPO))


def test_keyless_sigstore_is_never_accepted():
    req = {"type": "sigstoreSigned", "fulcio": {"caPath": "/x", "oidcIssuer": "https://x", "subjectEmail": "a@b"},
           "rekorPublicKeyPath": "/x"}
    with pytest.raises(PolicyRejectedError, match="keyless sigstore verification .* is not supported"):
        policy(req).check(dir_image("dir-img-cosign-valid", REPO))


# -- the signedIdentity rules on the signed cosign payload ---------------------------------------
@pytest.mark.parametrize("identity, ref, accepted", [
    ({"type": "matchRepoDigestOrExact"}, REPO + ":latest", False),          # cosign's identity is name-only
    ({"type": "exactRepository", "dockerRepository": REPO}, "example.com/other:1", True),
    ({"type": "exactRepository", "dockerRepository": "192.168.64.2:5000/other"}, REPO + ":latest", False),
    ({"type": "matchRepository"}, REPO + "@sha256:" + "a" * 64, True),
    ({"type": "remapIdentity", "prefix": "mirror.example:5000/m", "signedPrefix": "192.168.64.2:5000"},
     "mirror.example:5000/m/cosign-signed-single-sample:latest", False),   # remap then matchRepoDigestOrExact
])
def test_signed_identity_rules(identity, ref, accepted):
    image = dir_image("dir-img-cosign-valid", REPO)
    image = UnverifiedImage(parse_reference(ref), image.manifest_raw, image.list_signatures)
    if accepted:
        policy(sigstore_req(identity)).check(image)
    else:
        with pytest.raises(PolicyRejectedError, match="another identity"):
            policy(sigstore_req(identity)).check(image)


# -- the format on the wire ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["dir-img-cosign-valid/signature-1", "dir-img-cosign-valid-2/signature-2",
                                  "dir-img-cosign-valid-with-tag/signature-1", "unknown-cosign-key.signature",
                                  "dir-img-cosign-other-attachment/signature-1"])
def test_dir_signatures_round_trip_byte_for_byte(name):
    data = read(os.path.join(CI, name))
    # unknown-cosign-key.signature was saved with an editor's final newline; containers/image writes none
    assert sigstore.dir_signature_bytes(sigstore.parse_dir_signature(data)) == data.rstrip(b"\n")


def test_our_payload_has_the_fields_of_cosigns_and_containers_images():
    theirs = json.loads(dir_image("dir-img-cosign-valid-with-tag", REPO).signatures()[0].payload)
    ours = json.loads(payload.make_payload("192.168.64.2:5000/skopeo-signed:tag", "sha256:" + "a" * 64))
    assert ours["critical"].keys() == theirs["critical"].keys()
    assert ours["critical"]["identity"].keys() == theirs["critical"]["identity"].keys()
    assert ours["critical"]["image"].keys() == theirs["critical"]["image"].keys()
    assert ours["critical"]["type"] == theirs["critical"]["type"] == payload.SIGNATURE_TYPE
    assert set(ours["optional"]) <= {"creator", "timestamp"}


def test_their_payloads_parse():
    signed = payload.parse_payload(dir_image("dir-img-cosign-valid", REPO).signatures()[0].payload)
    assert signed.docker_reference == REPO
    assert signed.manifest_digest == "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"
    assert signed.creator is None and signed.timestamp is None


def test_what_we_sign_verifies_with_their_verdicts_rules():
    key = keys.load_private_key(read(os.path.join(DATA, "cosign", "sigstore-labeled.key")), "hello")
    raw = read(os.path.join(CI, "dir-img-cosign-valid", "manifest.json"))
    digest = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"
    ours = sigstore.sign(key, REPO + ":latest", digest)
    again = sigstore.parse_dir_signature(sigstore.dir_signature_bytes(ours))
    assert again == ours
    pub = base64.b64encode(keys.public_key_pem(key)).decode()
    image = UnverifiedImage(parse_reference(REPO + ":latest"), raw, lambda: [again])
    policy(sigstore_req(MATCH_EXACT, keyData=pub)).check(image)
    with pytest.raises(PolicyRejectedError, match="bad signature"):
        policy(sigstore_req(MATCH_EXACT)).check(image)   # cosign.pub did not sign it


# -- cosign's own keys ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sigstore-labeled.key", "cosign-labeled.key"])
def test_cosign_test_keys_load_with_their_passphrase(name):
    key = keys.load_private_key(read(os.path.join(DATA, "cosign", name)), "hello")
    sig = keys.sign_bytes(key, b"data")
    assert keys.verify_bytes(key.public_key(), b"data", sig)


def test_cosign_key_with_a_wrong_passphrase_is_refused():
    with pytest.raises(SigningError, match="wrong passphrase"):
        keys.load_private_key(read(os.path.join(DATA, "cosign", "sigstore-labeled.key")), "nope")


def test_our_encrypted_key_has_cosigns_structure():
    theirs = _sealed_json(read(os.path.join(DATA, "cosign", "sigstore-labeled.key")))
    private_pem, public_pem = keys.generate_key_pair("pw")
    assert private_pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    ours = _sealed_json(private_pem)
    assert ours.keys() == theirs.keys()
    assert ours["kdf"]["params"] == theirs["kdf"]["params"]
    assert (ours["kdf"]["name"], ours["cipher"]["name"]) == (theirs["kdf"]["name"], theirs["cipher"]["name"])
    assert len(base64.b64decode(ours["kdf"]["salt"])) == len(base64.b64decode(theirs["kdf"]["salt"]))
    assert len(base64.b64decode(ours["cipher"]["nonce"])) == len(base64.b64decode(theirs["cipher"]["nonce"]))
    key = keys.load_private_key(private_pem, "pw")
    assert keys.public_key_pem(key) == public_pem
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")


def _sealed_json(pem: bytes) -> dict:
    lines = pem.decode().strip().splitlines()
    return json.loads(base64.b64decode("".join(lines[1:-1])))
