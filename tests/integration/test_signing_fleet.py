# -*- coding: utf-8 -*-
"""The fleet-style test of issue 10 with plain modules (no container_host role exists yet), in one
ansible-playbook run: ansible.builtin.copy writes a policy.json into a temporary location that
trusts only images signed by the fleet's key; an unsigned image then fails to pull with oci_image,
the error naming the requirement and the reason; an image signed with oci_signing_key's key by
oci_image push sign_by pulls and runs with oci_container (which landed after this test was first
written with oci_mount alone: the mount, and a file read through it, stay as a second check).

Also through the module: loads from oci-archive files follow the policy's oci-archive scopes."""

from __future__ import annotations

import base64
import json
import os
import subprocess

import pytest

from harness import images as I
from harness.ansible import run_tasks
from harness.engine import registries_conf, service

pytestmark = pytest.mark.integration


def _mounts_below(path: str) -> list:
    from ansible_collections.undock.oci.plugins.module_utils.storage import mounts as M
    path = os.path.realpath(path)
    return [e["point"] for e in M.mountinfo() if e["point"].startswith(path + "/")]


@pytest.mark.skipif(os.geteuid() != 0, reason="oci_mount needs root")
def test_fleet_policy_refuses_unsigned_and_lets_signed_in(tmp_path, registry_factory, image_cache):
    reg = registry_factory()
    source = I.push_oci_image(reg, repo="build/app", cache=image_cache)
    unsigned = I.push_docker_image(reg, repo="fleet/unsigned", cache=image_cache)
    conf = {"registries_conf": registries_conf(str(tmp_path / "conf"), reg.host),
            "auth_file": str(tmp_path / "conf" / "auth.json")}
    prefix = str(tmp_path / "keys" / "fleet")
    policy_path = str(tmp_path / "etc" / "containers" / "policy.json")
    policy = {"default": [{"type": "reject"}], "transports": {"docker": {
        "%s/fleet" % reg.host: [{"type": "sigstoreSigned", "keyPath": prefix + ".pub"}]}}}
    signed = "%s/fleet/app:1.0" % reg.host
    node = dict(conf, storage_root=str(tmp_path / "node"), run_root=str(tmp_path / "node-run"), policy=policy_path)
    mount_point = str(tmp_path / "mnt" / "app")
    try:
        results = run_tasks([
            ("ansible.builtin.file", {"path": os.path.dirname(prefix), "state": "directory", "mode": "0700"}, {}),
            ("undock.oci.oci_signing_key", {"path": prefix, "passphrase": "fleet-pass"}, {}),
            ("undock.oci.oci_image", dict(conf, storage_root=str(tmp_path / "publisher"), name=signed,
                                          source=source.ref, push=True, sign_by=prefix + ".key",
                                          sign_passphrase="fleet-pass"), {}),
            ("ansible.builtin.file", {"path": os.path.dirname(policy_path), "state": "directory"}, {}),
            ("ansible.builtin.copy", {"dest": policy_path, "content": json.dumps(policy, indent=2) + "\n",
                                      "mode": "0644"}, {}),
            ("undock.oci.oci_image", dict(node, name=unsigned.ref), {}),
            ("undock.oci.oci_image", dict(node, name=source.ref), {}),
            ("undock.oci.oci_image", dict(node, name=signed), {}),
            ("undock.oci.oci_mount", dict(registries_conf=conf["registries_conf"], storage_root=node["storage_root"], run_root=node["run_root"],
                                          name=signed, path=mount_point), {}),
            ("ansible.builtin.slurp", {"src": mount_point + "/etc/undock-fixture"}, {}),
            ("undock.oci.oci_mount", dict(registries_conf=conf["registries_conf"], storage_root=node["storage_root"], run_root=node["run_root"],
                                          path=mount_point, state="unmounted"), {}),
            ("undock.oci.oci_container", dict(node, name="fleet-app", image=signed, command="sh -c 'sleep 60'",
                                              stop_timeout=0), {}),
            ("undock.oci.oci_container", dict(node, name="fleet-unsigned", image=unsigned.ref,
                                              command="sh -c 'sleep 60'"), {}),
            ("undock.oci.oci_container", dict(node, name="fleet-app", state="absent"), {}),
        ])
    finally:
        from ansible_collections.undock.oci.plugins.module_utils.runtime.containers import Containers
        store = service(tmp_path, storage_root=node["storage_root"]).store(create=False)
        if store is not None:
            for name in Containers(store, node["run_root"]).names():
                Containers(store, node["run_root"]).remove(name)
        for point in _mounts_below(str(tmp_path)):
            subprocess.run(["umount", "-l", point], check=False)
    key, published, dummy, wrote, refused_scope, refused_default, pulled, mounted, slurped, unmounted = results[1:11]
    runs, not_run, removed = results[11:]
    assert key["changed"] and published["changed"], (key, published)
    assert any(a.startswith("signed ") for a in published["actions"]), published
    assert wrote["changed"], wrote
    # pulled into the fleet's namespace, but nobody signed it: the sigstoreSigned scope says so
    assert refused_scope.get("failed"), refused_scope
    assert ('scope transports.docker["%s/fleet"], requirement 1 (sigstoreSigned by %s.pub' % (reg.host, prefix)
            in refused_scope["msg"] and refused_scope["msg"].endswith("no signature")), refused_scope["msg"]
    assert policy_path in refused_scope["msg"]
    # outside the fleet's namespace, the default rejects
    assert refused_default.get("failed") and "scope default, requirement 1 (reject)" in refused_default["msg"]
    assert pulled["changed"] and not pulled.get("failed") and pulled["image"]["digest"] == source.digest, pulled
    assert mounted["changed"] and mounted["mount"]["digest"] == source.digest, mounted
    assert b"name=oci" in base64.b64decode(slurped["content"]), slurped
    assert unmounted["changed"], unmounted
    assert runs["changed"] and runs["container"]["state"] == "running", runs
    assert not_run.get("failed") and "no signature" in not_run["msg"] and policy_path in not_run["msg"], not_run
    assert removed["changed"] and not removed.get("failed"), removed
    images = service(tmp_path, storage_root=node["storage_root"]).list_local().values["images"]
    assert [i["name"] for i in images] == [signed]         # the refused images left nothing
    assert "fleet-pass" not in json.dumps(results)


def test_module_loads_from_files_follow_the_policy(tmp_path, image_cache):
    layout = image_cache.get("oci", I._simple("oci"))
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    archive = str(trusted / "app.tar")
    maker = service(tmp_path / "maker")
    maker.present("example.com/app:1", source="oci:%s:%s" % (layout.layout, layout.tag))
    maker.export("example.com/app:1", "oci-archive:%s:app" % archive)
    policy = {"default": [{"type": "reject"}], "transports": {"oci-archive": {str(trusted): [
        {"type": "insecureAcceptAnything"}]}}}
    load = {"storage_root": str(tmp_path / "store"), "name": "example.com/app:1"}
    results = run_tasks([
        ("undock.oci.oci_image", dict(load, source="oci:%s:%s" % (layout.layout, layout.tag), policy=policy), {}),
        ("undock.oci.oci_image", dict(load, source="oci-archive:%s" % archive, policy=policy), {"check_mode": True}),
        ("undock.oci.oci_image", dict(load, source="oci-archive:%s" % archive, policy=policy), {}),
        ("undock.oci.oci_image", dict(load, source="oci-archive:%s" % archive,
                                      policy={"default": [{"type": "reject"}]}), {}),
    ])
    refused, check, loaded, now_refused = results
    assert refused.get("failed") and "image oci:%s rejected" % os.path.realpath(layout.layout) in refused["msg"]
    assert "scope default, requirement 1 (reject)" in refused["msg"], refused
    assert check["changed"] and not check.get("failed"), check
    assert loaded["changed"] and not loaded.get("failed"), loaded
    assert now_refused.get("failed") and "was removed from the store" in now_refused["msg"], now_refused
    assert service(tmp_path).list_local().values["images"] == []
