"""oci_image and oci_image_info through real Ansible: check mode, --diff, idempotency,
no_log of passwords, module_defaults groups, ansible-doc."""

from __future__ import annotations

import json
import os
import subprocess

from harness import images as I
from harness.ansible import BIN, ansible_env, run_module, run_tasks
from harness.engine import registries_conf


def common(tmp_path, reg):
    return {"storage_root": str(tmp_path / "store"),
            "registries_conf": registries_conf(str(tmp_path / "conf"), reg.host),
            "auth_file": str(tmp_path / "conf" / "auth.json")}


def test_pull_check_diff_idempotent(tmp_path, registry, fixture_images):
    pushed = fixture_images["index"]
    args = dict(common(tmp_path, registry), name=pushed.ref)
    check, first, second, always, info, remote, removed, removed_again = run_tasks([
        ("undock.oci.oci_image", args, {"check_mode": True, "diff": True}),
        ("undock.oci.oci_image", args, {"diff": True}),
        ("undock.oci.oci_image", args, {}),
        ("undock.oci.oci_image", dict(args, pull="always"), {}),
        ("undock.oci.oci_image_info", common(tmp_path, registry), {}),
        ("undock.oci.oci_image_info", dict(common(tmp_path, registry), name=[pushed.ref], remote=True,
                                           platform="linux/arm64"), {}),
        ("undock.oci.oci_image", dict(args, state="absent"), {"diff": True}),
        ("undock.oci.oci_image", dict(args, state="absent"), {}),
    ])
    amd64 = pushed.child("amd64").digest
    assert check["changed"] and not check.get("failed"), check
    assert check["diff"] == {"before": {"digest": None}, "after": {"digest": amd64}}
    assert first["changed"] and first["image"]["digest"] == amd64, first
    assert first["image"]["source_digest"] == pushed.digest
    assert not second["changed"]
    assert not always["changed"]
    assert [i["name"] for i in info["images"]] == [pushed.ref]
    assert info["images"][0]["consistent"] is True
    assert remote["images"][0]["digest"] == pushed.child("arm64").digest
    assert remote["images"][0]["repo_tags"] == ["latest"]
    assert removed["changed"] and removed["diff"]["after"] == {"digest": None}
    assert not removed_again["changed"]
    assert not (tmp_path / "store" / "blobs" / "sha256" / amd64.split(":")[1]).exists()


def test_push_through_module_with_basic_auth_hides_password(tmp_path, basic_registry, registry, fixture_images):
    pushed = fixture_images["oci"]
    run_module("undock.oci.oci_image", dict(common(tmp_path, registry), name=pushed.ref))
    target = "%s/mod/app:2" % basic_registry.host
    args = dict(common(tmp_path, registry), name=target, source=pushed.ref, push=True,
                username=basic_registry.username, password=basic_registry.password,
                ca_cert=basic_registry.ca_cert)
    check, first, again, bad = run_tasks([
        ("undock.oci.oci_image", args, {"check_mode": True}),
        ("undock.oci.oci_image", args, {"diff": True}),
        ("undock.oci.oci_image", args, {}),
        ("undock.oci.oci_image", dict(args, password="Wr0ng-pass-123"), {}),
    ])
    assert check["changed"], check
    assert check["actions"][-1].startswith("would push")
    assert first["changed"], first
    assert first["diff"]["after"] == {"digest": pushed.digest, "remote_digest": pushed.digest}
    assert first["diff"]["before"]["remote_digest"] is None  # the check-mode run pushed nothing
    assert basic_registry.password not in json.dumps([check, first, again, bad])
    assert basic_registry.get_manifest("mod/app", "2")[2] == pushed.manifest
    assert not again["changed"]
    assert bad.get("failed") and "refused" in bad["msg"]
    assert "Wr0ng-pass-123" not in json.dumps(bad)


def test_bad_reference_fails_cleanly(tmp_path, registry):
    result = run_module("undock.oci.oci_image", dict(common(tmp_path, registry), name="example.com/UPPER/case"))
    assert result["failed"] and "repository name must be lowercase" in result["msg"]


def test_module_defaults_group(tmp_path, registry, fixture_images):
    playbook = tmp_path / "play.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/undock.oci.oci:
      storage_root: %s
      registries_conf: %s
  tasks:
    - undock.oci.oci_image:
        name: %s
    - undock.oci.oci_image_info:
      register: info
    - assert:
        that: info.images | length == 1
""" % (tmp_path / "grpstore", registries_conf(str(tmp_path / "conf"), registry.host), fixture_images["docker"].ref))
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
                          env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "default"}), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "grpstore" / "index.json").exists()


def test_ansible_doc_renders():
    for module in ("undock.oci.oci_image", "undock.oci.oci_image_info"):
        proc = subprocess.run([os.path.join(BIN, "ansible-doc"), module], env=ansible_env(), capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "OPTIONS" in proc.stdout and "EXAMPLES" in proc.stdout and "RETURN VALUES" in proc.stdout
        assert "validate_certs" in proc.stdout and "storage_root" in proc.stdout
