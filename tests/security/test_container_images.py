# -*- coding: utf-8 -*-
"""Hostile images run as containers, each contained with a clear error or kept inside the
rootfs: WORKDIR /proc/self/fd/7 (directly or through a symlink), Volumes with '..', a
Volume that is a symlink out of the rootfs (seeded from inside it only)."""

from __future__ import annotations

import os
import subprocess

import pytest

from harness import images as I
from harness.engine import service

from ansible_collections.undock.oci.plugins.module_utils.runtime.containers import Containers, volume_name
from ansible_collections.undock.oci.plugins.module_utils.runtime.errors import ContainerError
from ansible_collections.undock.oci.plugins.module_utils.runtime.service import ContainerService
from ansible_collections.undock.oci.plugins.module_utils.storage import mounts as M

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


def push(registry, repo, extra_entries=(), **config):
    layers = [I.tar_layer(I.busybox_entries())]
    if extra_entries:
        layers.append(I.tar_layer(list(extra_entries)))
    return I.push_layers(registry, "hostile/" + repo, "1", layers, config_extra=config).ref


@pytest.fixture
def containers(tmp_path, registry):
    svc = ContainerService(service(tmp_path, registry))
    yield svc
    store = svc.images.store(create=False)
    if store is not None:
        manager = Containers(store, svc.images.run_root)
        for name in manager.names():
            manager.remove(name)
    leaked = [e["point"] for e in M.mountinfo() if e["point"].startswith(str(tmp_path) + "/")]
    for point in sorted(leaked, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    assert not leaked, leaked


def test_workdir_in_proc_is_refused(containers, registry, tmp_path):
    image = push(registry, "workdir-fd", WorkingDir="/proc/self/fd/7")
    with pytest.raises(ContainerError, match=r"working_dir /proc/self/fd/7 is inside /proc"):
        containers.ensure(dict(name="fd", image=image, command="true"))
    assert not os.path.exists(tmp_path / "store" / "containers" / "fd")


def test_workdir_symlinked_into_proc_is_refused(containers, registry):
    image = push(registry, "workdir-link", [I.Entry("w", "symlink", target="../proc/self/fd/7")], WorkingDir="/w")
    with pytest.raises(ContainerError, match=r"working_dir /w is inside /proc \(through symlinks in the image, "
                                             r"it is /proc/self/fd/7\)"):
        containers.ensure(dict(name="fdlink", image=image, command="true"))


def test_volume_with_dotdot_is_refused(containers, registry):
    image = push(registry, "volume-dotdot", Volumes={"/data/../../etc": {}})
    with pytest.raises(ContainerError, match=r"the image's Volumes: '/data/../../etc' contains '..'"):
        containers.ensure(dict(name="dotdot", image=image, command="true"))


def test_volume_symlinked_out_of_the_rootfs_is_seeded_from_inside(containers, registry, tmp_path):
    marker = [I.Entry("inside/", "dir", mode=0o755), I.Entry("inside/only-in-image", data=b"image\n"),
              I.Entry("data", "symlink", target="../../../../../../inside")]
    image = push(registry, "volume-link", marker, Volumes={"/data": {}})
    out = containers.ensure(dict(name="vlink", image=image, command="sleep 30", stop_timeout=0))
    assert out.values["container"]["state"] == "running"
    volume = tmp_path / "store" / "volumes" / volume_name("vlink", "/data") / "_data"
    assert sorted(os.listdir(volume)) == ["only-in-image"]
