"""oci_image and oci_image_info through real Ansible: check mode, --diff, idempotency,
no_log of passwords, module_defaults groups, ansible-doc."""

from __future__ import annotations

import hashlib
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
    """Storage options for every module, names and credentials only for those that take them."""
    playbook = tmp_path / "play.yml"
    playbook.write_text("""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/undock.oci.oci:
      storage_root: %s
      run_root: %s
    group/undock.oci.names:
      registries_conf: %s
    group/undock.oci.registry:
      auth_file: %s
  tasks:
    - undock.oci.oci_image:
        name: %s
    - undock.oci.oci_image_info:
      register: info
    - assert:
        that: info.images | length == 1
    - undock.oci.oci_prune:
        all: true
      register: pruned
    - assert:
        that: pruned.removed | length == 1
""" % (tmp_path / "grpstore", tmp_path / "run", registries_conf(str(tmp_path / "conf"), registry.host),
       tmp_path / "conf" / "auth.json", fixture_images["docker"].ref))
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
                          env=ansible_env({"ANSIBLE_STDOUT_CALLBACK": "default"}), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "grpstore" / "index.json").exists()


def test_ansible_doc_renders():
    for module in ("undock.oci.oci_image", "undock.oci.oci_image_info", "undock.oci.oci_container"):
        proc = subprocess.run([os.path.join(BIN, "ansible-doc"), module], env=ansible_env(), capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "OPTIONS" in proc.stdout and "EXAMPLES" in proc.stdout and "RETURN VALUES" in proc.stdout
        assert "validate_certs" in proc.stdout and "storage_root" in proc.stdout


def test_contradictory_options_are_refused(tmp_path, registry, fixture_images):
    pushed = fixture_images["oci"]
    args = dict(common(tmp_path, registry), name=pushed.ref)
    pulled, with_push, with_source, with_platform, forced = run_tasks([
        ("undock.oci.oci_image", args, {}),
        ("undock.oci.oci_image", dict(args, state="absent", push=True), {}),
        ("undock.oci.oci_image", dict(args, state="absent", source=pushed.ref), {}),
        ("undock.oci.oci_image", dict(args, state="absent", platform="linux/arm64"), {}),
        ("undock.oci.oci_image", dict(args, force=True), {}),
    ])
    assert not pulled.get("failed"), pulled
    assert with_push.get("failed") and with_push["msg"] == "push cannot be used with state=absent", with_push
    assert with_source.get("failed") and "source cannot be used with state=absent" in with_source["msg"]
    assert with_platform.get("failed") and "platform cannot be used with state=absent" in with_platform["msg"]
    assert forced.get("failed") and "force is only for state=absent" in forced["msg"], forced
    assert json.loads((tmp_path / "store" / "index.json").read_text())["manifests"]  # nothing was removed


def test_bad_values_fail_before_any_request(tmp_path, registry, fixture_images):
    pushed = fixture_images["index"]
    requests_before = len(registry.access_log())
    pull, info, export, source = run_tasks([
        ("undock.oci.oci_image", dict(common(tmp_path, registry), name=pushed.ref, platform="linux/arm64/v8/x"), {}),
        ("undock.oci.oci_image_info", dict(common(tmp_path, registry), name=[pushed.ref], remote=True,
                                           platform="linux/"), {}),
        ("undock.oci.oci_image", dict(common(tmp_path, registry), name=pushed.ref, export_to="oci-archive:"), {}),
        ("undock.oci.oci_image", dict(common(tmp_path, registry), name=pushed.ref, source="dir:/srv/x"), {}),
    ])
    assert export.get("failed") and "oci-archive needs a path" in export["msg"], export
    assert source.get("failed") and "the dir transport is not supported" in source["msg"], source
    assert not (tmp_path / "store" / "index.json").exists()  # nothing was pulled first
    assert pull.get("failed") and "invalid platform 'linux/arm64/v8/x'" in pull["msg"], pull
    assert info.get("failed") and "invalid platform 'linux/'" in info["msg"], info
    assert len(registry.access_log()) == requests_before  # the registry was never asked


def test_pull_by_digest_of_a_stored_image_needs_no_registry(tmp_path, registry_factory, image_cache):
    own = registry_factory()
    pushed = I.push_oci_image(own, cache=image_cache)
    args = dict(common(tmp_path, own), name=pushed.ref)
    by_digest = dict(args, name=pushed.by_digest)
    by_tag, = run_tasks([("undock.oci.oci_image", args, {})])
    assert by_tag["changed"], by_tag
    own.stop()  # offline from here on: a digest cannot move, so the store answers
    again, always, info = run_tasks([
        ("undock.oci.oci_image", by_digest, {"diff": True}),
        ("undock.oci.oci_image", dict(by_digest, pull="always"), {}),
        ("undock.oci.oci_image_info", dict(common(tmp_path, own), name=[pushed.by_digest]), {}),
    ])
    assert not again.get("failed") and again["changed"] is False, again
    assert again["image"] == by_tag["image"] and again["image"]["name"] == pushed.ref
    assert again["diff"] == {"before": {"digest": pushed.digest}, "after": {"digest": pushed.digest}}
    assert not always.get("failed") and always["changed"] is False, always
    assert [i["name"] for i in info["images"]] == [pushed.ref] and info["missing"] == []
    entries = json.loads((tmp_path / "store" / "index.json").read_text())["manifests"]
    assert len(entries) == 1, entries  # never a second entry for the same image


def test_pull_always_fetches_a_corrupt_blob_again(tmp_path, registry, fixture_images):
    pushed = fixture_images["docker"]
    args = dict(common(tmp_path, registry), name=pushed.ref)
    run_tasks([("undock.oci.oci_image", args, {})])
    blob = tmp_path / "store" / "blobs" / "sha256" / pushed.layers[0].split(":")[1]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, wrong digest
    blob.write_bytes(bytes(data))
    missing_policy, check, repaired, again, info = run_tasks([
        ("undock.oci.oci_image", args, {}),
        ("undock.oci.oci_image", dict(args, pull="always"), {"check_mode": True}),
        ("undock.oci.oci_image", dict(args, pull="always"), {}),
        ("undock.oci.oci_image", dict(args, pull="always"), {}),
        ("undock.oci.oci_image_info", dict(common(tmp_path, registry), name=[pushed.ref]), {}),
    ])
    assert missing_policy["changed"] is False  # pull: missing trusts the store
    assert check["changed"] and any(pushed.layers[0] in w for w in check["warnings"]), check
    assert check["actions"][0] == "would fetch again 1 corrupt blobs of %s" % pushed.ref
    assert repaired["changed"], repaired
    assert any(pushed.layers[0] in w and "fetched again" in w for w in repaired["warnings"]), repaired
    assert any(a.startswith("pulled %s" % pushed.ref) for a in repaired["actions"]), repaired
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == pushed.layers[0].split(":")[1]
    assert again["changed"] is False and not again.get("warnings"), again
    assert info["images"][0]["consistent"] is True, info


def test_info_lists_the_store_past_a_bad_entry(tmp_path, registry, fixture_images):
    good, bad = fixture_images["docker"], fixture_images["oci"]
    run_tasks([("undock.oci.oci_image", dict(common(tmp_path, registry), name=good.ref), {}),
               ("undock.oci.oci_image", dict(common(tmp_path, registry), name=bad.ref), {})])
    index_path = tmp_path / "store" / "index.json"
    index = json.loads(index_path.read_text())
    broken = next(e for e in index["manifests"] if e["annotations"]["org.opencontainers.image.ref.name"] == bad.ref)
    broken["digest"] = "sha256:" + "0" * 64  # a manifest the store does not have
    for number, damage in enumerate(({"digest": "sha256:not-hex"}, {"mediaType": None}, {"digest": None})):
        entry = dict(broken, **damage)
        entry["annotations"] = {"org.opencontainers.image.ref.name": "%s/broken:%d" % (registry.host, number)}
        index["manifests"].append(entry)
    index_path.write_text(json.dumps(index))
    info, = run_tasks([("undock.oci.oci_image_info", common(tmp_path, registry), {})])
    assert not info.get("failed"), info
    listed = {i["name"]: i for i in info["images"]}
    broken_names = ["%s/broken:%d" % (registry.host, n) for n in range(3)]
    assert set(listed) == {good.ref, bad.ref, *broken_names}
    for name in broken_names:
        assert listed[name]["consistent"] is False and listed[name]["problems"], listed[name]
    assert listed[good.ref]["consistent"] is True and listed[good.ref]["digest"] == good.digest
    assert listed[bad.ref]["consistent"] is False and listed[bad.ref]["digest"] is None
    assert "sha256:" + "0" * 64 in listed[bad.ref]["problems"][0], listed[bad.ref]
    assert set(listed[bad.ref]) == set(listed[good.ref])  # the same record, empty where unknown
    assert any(bad.ref in w for w in info["warnings"])


def test_missing_image_is_the_same_locally_and_remotely(tmp_path, registry, fixture_images):
    there = fixture_images["oci"].ref
    absent = "%s/fixtures/oci:no-such-tag" % registry.host
    run_tasks([("undock.oci.oci_image", dict(common(tmp_path, registry), name=there), {})])
    local, remote = run_tasks([
        ("undock.oci.oci_image_info", dict(common(tmp_path, registry), name=[there, absent]), {}),
        ("undock.oci.oci_image_info", dict(common(tmp_path, registry), name=[there, absent], remote=True), {}),
    ])
    for result in (local, remote):
        assert not result.get("failed"), result
        assert [i["name"] for i in result["images"]] == [there] and result["missing"] == [absent], result


BLOCKER = '''
import sys

class Blocker:
    """Hide libraries from this interpreter, as on a host that lacks them."""
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("requests", "filelock", "jsonschema"):
            raise ModuleNotFoundError("No module named %r (hidden by the test)" % name, name=name)
        return None

sys.meta_path.insert(0, Blocker())
'''


def test_missing_libraries_are_named_at_once(tmp_path, registry):
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(BLOCKER)
    env = {"environment": {"PYTHONPATH": str(hide)}}
    image, prune = run_tasks([
        ("undock.oci.oci_image", dict(common(tmp_path, registry), name="%s/any/thing:1" % registry.host), env),
        ("undock.oci.oci_prune", {"storage_root": str(tmp_path / "store")}, env),
    ])
    assert image.get("failed") and "Failed to import the required Python library (jsonschema, requests)" \
        in image["msg"]
    assert all(p in image["msg"] for p in ("python3-requests", "python3-jsonschema")), image
    assert image["missing_libraries"] == ["jsonschema", "requests"]
    assert "Traceback" not in json.dumps(image)
    # the store needs only the standard library (common.locks, not filelock): pruning works without them
    assert not prune.get("failed") and "missing_libraries" not in prune, prune


def test_every_module_documents_its_host_requirements():
    for module in ("oci_image", "oci_image_info", "oci_prune", "oci_mount", "oci_scan", "oci_container"):
        proc = subprocess.run([os.path.join(BIN, "ansible-doc"), "--json", "undock.oci." + module], env=ansible_env(),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)["undock.oci." + module]["doc"]
        requirements = " ".join(doc.get("requirements") or [])
        assert "Python 3.9 or newer" in requirements, (module, requirements)
        assert "filelock" not in requirements, (module, requirements)  # the engine locks with fcntl
        pulls = module in ("oci_image", "oci_image_info", "oci_container")
        assert ("python3-requests" in requirements) == pulls, module
        assert ("python3-jsonschema" in requirements) == pulls, module
        assert ("username" in doc["options"]) == pulls, module
