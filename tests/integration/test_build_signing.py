# -*- coding: utf-8 -*-
"""oci_build with signing and a trust policy, through real Ansible and a real registry: a
built image pushed with sign_by carries a sigstore attachment that our verifier accepts for
the key, and pushing it again signs nothing; a base image that the policy rejects fails a
Dockerfile build and a steps build, naming the reason, with nothing built or stored."""

from __future__ import annotations

import json
import os

import pytest

from harness import images as I
from harness.ansible import run_tasks
from harness.engine import registries_conf, service

from ansible_collections.undock.oci.plugins.module_utils.model.reference import parse_reference
from ansible_collections.undock.oci.plugins.module_utils.signing import attachments
from ansible_collections.undock.oci.plugins.module_utils.signing.policy import UnverifiedImage, load_policy_file

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="builds need root (overlay mounts, runc)")

PASSPHRASE = "build-s3cret"


def test_signed_push_and_a_base_rejected_by_the_policy(tmp_path, registry):
    base = I.push_layers(registry, "buildsign/busybox", "1", [I.tar_layer(I.busybox_entries())])
    conf = {"registries_conf": registries_conf(str(tmp_path / "conf"), registry.host),
            "auth_file": str(tmp_path / "conf" / "auth.json"), "run_root": str(tmp_path / "run")}
    built = {"context": str(tmp_path / "ctx")}
    prefix = str(tmp_path / "cosign")
    target = "%s/buildsign/app:1" % registry.host
    text = "FROM %s\nRUN echo signed > /signed\n" % base.ref
    (tmp_path / "ctx").mkdir()
    publish = dict(conf, **built, storage_root=str(tmp_path / "pub"), name=target, containerfile_text=text,
                   source_date_epoch=1700000000, push=True, sign_by=prefix + ".key", sign_passphrase=PASSPHRASE)
    only_signed = tmp_path / "policy.json"
    only_signed.write_text(json.dumps({"default": [{"type": "reject"}], "transports": {"docker": {
        registry.host: [{"type": "sigstoreSigned", "keyPath": prefix + ".pub"}]}}}))
    refusing = dict(conf, **built, storage_root=str(tmp_path / "consumer"), policy=str(only_signed))
    results = run_tasks([
        ("undock.oci.oci_signing_key", {"path": prefix, "passphrase": PASSPHRASE}, {}),
        ("undock.oci.oci_build", publish, {}),
        ("undock.oci.oci_build", publish, {}),
        ("undock.oci.oci_build", dict(refusing, name="localhost/refused/df:1", containerfile_text=text), {}),
        ("undock.oci.oci_build", dict(refusing, name="localhost/refused/steps:1",
                                      steps=[{"from": base.ref}, {"run": "echo x > /x"}]), {}),
        ("undock.oci.oci_build", dict(conf, **built, storage_root=str(tmp_path / "x"), name=target, containerfile_text=text,
                                      sign_by=prefix + ".key"), {}),
        # the signed image passes the same policy that refuses the unsigned base
        ("undock.oci.oci_image", dict(conf, storage_root=str(tmp_path / "other"), policy=str(only_signed),
                                      name=target), {}),
    ])
    key, signed, again, refused_df, refused_steps, no_push, pulled = results
    assert key["changed"], key
    assert signed["changed"] and not signed.get("failed"), signed
    assert any(a.startswith("signed ") for a in signed["actions"]), signed["actions"]
    assert not again["changed"] and not again.get("failed"), again
    assert not any(a.startswith("signed ") for a in again["actions"]), again["actions"]
    assert no_push.get("failed") and "push=true" in no_push["msg"], no_push
    assert pulled["changed"] and not pulled.get("failed"), pulled
    assert PASSPHRASE not in json.dumps(results)

    # our verifier, on what a fresh client reads from the registry: the sigstore attachment is there
    ref = parse_reference(target)
    client = service(tmp_path / "verify", registry).registry.client(ref)
    manifest = client.get_manifest(ref.manifest_reference)
    assert manifest.digest == signed["image"]["digest"]
    attached = client.get_manifest("sha256-%s.sig" % manifest.digest.split(":", 1)[1])
    assert [layer["mediaType"] for layer in json.loads(attached.raw)["layers"]] == \
        ["application/vnd.dev.cosign.simplesigning.v1+json"]
    signatures = attachments.read_signatures(client, manifest.digest)
    assert len(signatures) == 1
    load_policy_file(str(only_signed)).check(UnverifiedImage(ref, manifest.raw, lambda: signatures))

    # the base is refused before any of its blobs: nothing built, nothing stored
    for refused in (refused_df, refused_steps):
        assert refused.get("failed") and "no signature" in refused["msg"], refused
        assert "sigstoreSigned" in refused["msg"] and str(only_signed) in refused["msg"], refused["msg"]
    store = tmp_path / "consumer"
    consumer = service(tmp_path / "c", storage_root=str(store), run_root=str(tmp_path / "run"))
    assert consumer.store().images() == []
    assert not any(consumer.store().has_blob(d) for d in base.layers + [base.config])
    for leftover in ("builds", "build-records", "build-cache"):
        assert not (store / leftover).exists() or not os.listdir(store / leftover), leftover
