# -*- coding: utf-8 -*-
"""oci_signing_key through real Ansible: check mode, diff, idempotency, never overwriting a key,
the passphrase kept out of the output, and missing_required_lib without PyNaCl."""

from __future__ import annotations

import json
import os
import stat

import pytest

from harness.ansible import run_tasks

from ansible_collections.undock.oci.plugins.module_utils.signing import keys

pytestmark = pytest.mark.integration

MODULE = "undock.oci.oci_signing_key"
SECRET = "correct horse battery"


def test_create_check_diff_idempotent_and_remove(tmp_path):
    prefix = str(tmp_path / "cosign")
    args = {"path": prefix, "passphrase": SECRET}
    check, first, second, removed, removed_again = run_tasks([
        (MODULE, args, {"check_mode": True, "diff": True}),
        (MODULE, args, {"diff": True}),
        (MODULE, args, {}),
        (MODULE, {"path": prefix + "-other", "state": "absent"}, {}),
        (MODULE, {"path": prefix + "-other", "state": "absent"}, {}),
    ])
    assert check["changed"] and not check.get("failed"), check
    assert check["diff"] == {"before": {"private_key": False, "public_key": False},
                             "after": {"private_key": True, "public_key": True}}
    assert first["changed"] and first["diff"] == check["diff"], first
    assert not second["changed"], second
    assert second["public_key_pem"] == first["public_key_pem"]
    assert not removed["changed"] and not removed_again["changed"]
    assert SECRET not in json.dumps([check, first, second])
    with open(prefix + ".key", "rb") as handle:
        private = handle.read()
    assert private.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert stat.S_IMODE(os.stat(prefix + ".key").st_mode) == 0o600
    key = keys.load_private_key(private, SECRET)
    with open(prefix + ".pub", "rb") as handle:
        assert handle.read() == keys.public_key_pem(key) == first["public_key_pem"].encode()


def test_never_overwrites_and_refuses_what_does_not_fit(tmp_path):
    prefix = str(tmp_path / "k")
    args = {"path": prefix, "passphrase": SECRET}
    created, = run_tasks([(MODULE, args, {})])
    with open(prefix + ".key", "rb") as handle:
        private = handle.read()
    os.unlink(prefix + ".pub")
    lone = str(tmp_path / "lone")
    with open(lone + ".pub", "w") as handle:
        handle.write("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n")
    repub, wrong, lone_result, removed, check_removed = run_tasks([
        (MODULE, args, {"diff": True}),
        (MODULE, dict(args, passphrase="not-the-one"), {}),
        (MODULE, {"path": lone, "passphrase": SECRET}, {}),
        (MODULE, {"path": prefix, "state": "absent"}, {"diff": True}),
        (MODULE, {"path": lone, "state": "absent"}, {"check_mode": True}),
    ])
    assert repub["changed"] and repub["public_key_pem"] == created["public_key_pem"], repub
    assert repub["diff"]["before"] == {"private_key": True, "public_key": False}
    assert wrong.get("failed") and "wrong passphrase" in wrong["msg"], wrong
    assert lone_result.get("failed") and "exists without" in lone_result["msg"], lone_result
    assert os.path.exists(lone + ".pub") and not os.path.exists(lone + ".key")
    assert removed["changed"] and not os.path.exists(prefix + ".key") and not os.path.exists(prefix + ".pub")
    assert removed["diff"]["after"] == {"private_key": False, "public_key": False}
    assert check_removed["changed"] and os.path.exists(lone + ".pub")
    assert private  # the key existed whole before removal


def test_without_pynacl_the_task_names_the_library(tmp_path):
    shadow = tmp_path / "shadow" / "nacl"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no PyNaCl here')\n")
    result, = run_tasks([(MODULE, {"path": str(tmp_path / "k"), "passphrase": SECRET},
                          {"environment": {"PYTHONPATH": str(shadow.parent)}})])
    assert result.get("failed") and "PyNaCl" in result["msg"] and "Traceback" not in result["msg"], result
    assert not os.path.exists(str(tmp_path / "k.key"))
