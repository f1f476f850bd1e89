# -*- coding: utf-8 -*-
"""oci_container's pulls go through the trust policy (through the engine, with real runc): an
unsigned image under sigstoreSigned creates no container and leaves nothing in the store; a
re-check (pull: always) that rejects the image of a container keeps it, saying it is in use."""

from __future__ import annotations

import base64
import os
import subprocess

import pytest

from harness import images as I
from harness.engine import service

from ansible_collections.undock.oci.plugins.module_utils.common.errors import PolicyRejectedError
from ansible_collections.undock.oci.plugins.module_utils.runtime.containers import Containers
from ansible_collections.undock.oci.plugins.module_utils.runtime.service import ContainerService
from ansible_collections.undock.oci.plugins.module_utils.signing import keys
from ansible_collections.undock.oci.plugins.module_utils.signing.policy import parse_policy
from ansible_collections.undock.oci.plugins.module_utils.storage import mounts as M

pytestmark = [pytest.mark.integration, pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")]


def _cleanup(svc, tmp_path) -> None:
    store = svc.store(create=False)
    if store is not None:
        manager = Containers(store, svc.run_root)
        for name in manager.names():
            manager.remove(name)
    path = os.path.realpath(str(tmp_path))
    for point in sorted((e["point"] for e in M.mountinfo() if e["point"].startswith(path + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)


def test_container_pulls_are_judged_by_the_policy(tmp_path, registry):
    image = I.push_layers(registry, "containers/policy-busybox", "1", [I.tar_layer(I.busybox_entries())])
    public = keys.generate_key_pair("pw")[1]
    signed_only = parse_policy({"default": [{"type": "sigstoreSigned",
                                             "keyData": base64.b64encode(public).decode()}]}, "fleet.json")
    params = dict(name="web", image=image.ref, command="sh -c 'sleep 60'", stop_timeout=0)
    refused = ContainerService(service(tmp_path, registry, policy=signed_only))
    try:
        with pytest.raises(PolicyRejectedError, match=r"rejected by the policy fleet.json, scope default, "
                                                      r"requirement 1 \(sigstoreSigned .*\): no signature$"):
            refused.ensure(params)
        assert refused.images.list_local().values["images"] == []
        assert Containers(refused.images.store(), refused.images.run_root).names() == []

        accepting = ContainerService(service(tmp_path, registry, policy=parse_policy(
            {"default": [{"type": "insecureAcceptAnything"}]}, "open.json")))
        assert accepting.ensure(params).values["container"]["state"] == "running"
        again = ContainerService(service(tmp_path, registry, policy=signed_only))
        with pytest.raises(PolicyRejectedError, match=r"no signature; it stays in the store .*container:web"):
            again.ensure(dict(params, pull="always"))
        assert [i["name"] for i in again.images.list_local().values["images"]] == [image.ref]
    finally:
        _cleanup(service(tmp_path, registry), tmp_path)
