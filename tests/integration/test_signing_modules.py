# -*- coding: utf-8 -*-
"""Through real Ansible: oci_signing_key makes a key, oci_image pushes and signs with it, a
policy.json naming the public key lets the signed image in and keeps an unsigned one out."""

from __future__ import annotations

import json

import pytest

from harness import images as I
from harness.ansible import run_tasks
from harness.engine import registries_conf

pytestmark = pytest.mark.integration


def test_key_push_sign_and_policy_on_pull(tmp_path, registry_factory, image_cache):
    reg = registry_factory()
    pushed = I.push_oci_image(reg, repo="src/app", cache=image_cache)
    unsigned = I.push_docker_image(reg, repo="plain/app", cache=image_cache)
    conf = {"registries_conf": registries_conf(str(tmp_path / "conf"), reg.host),
            "auth_file": str(tmp_path / "conf" / "auth.json")}
    prefix = str(tmp_path / "cosign")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"docker": {
        reg.host: [{"type": "sigstoreSigned", "keyPath": prefix + ".pub"}]}}}))
    target = "%s/signed/app:1.0" % reg.host
    publish = dict(conf, storage_root=str(tmp_path / "pub"), name=target, source=pushed.ref, push=True,
                   sign_by=prefix + ".key", sign_passphrase="s3cret-phrase")
    consume = dict(conf, storage_root=str(tmp_path / "consumer"), policy=str(policy))
    results = run_tasks([
        ("undock.oci.oci_signing_key", {"path": prefix, "passphrase": "s3cret-phrase"}, {}),
        ("undock.oci.oci_image", publish, {}),
        ("undock.oci.oci_image", publish, {}),
        ("undock.oci.oci_image", dict(consume, name=target), {}),
        ("undock.oci.oci_image", dict(consume, name=unsigned.ref), {}),
        ("undock.oci.oci_image", dict(consume, name=unsigned.ref, policy={"default": [{"type": "insecureAcceptAnything"}]}),
         {}),
        ("undock.oci.oci_image", dict(conf, storage_root=str(tmp_path / "x"), name=target, sign_by=prefix + ".key"), {}),
    ])
    key, signed, again, pulled, refused, accepted, no_push = results
    assert key["changed"], key
    assert signed["changed"] and any(a.startswith("signed ") for a in signed["actions"]), signed
    assert not again["changed"], again
    assert pulled["changed"] and not pulled.get("failed"), pulled
    assert refused.get("failed") and "no signature" in refused["msg"] and str(policy) in refused["msg"], refused
    assert accepted["changed"] and not accepted.get("failed"), accepted
    assert no_push.get("failed") and "push=true" in no_push["msg"], no_push
    assert "s3cret-phrase" not in json.dumps(results)
