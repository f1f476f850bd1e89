# -*- coding: utf-8 -*-
"""destinations.contain_mounts: one rule for every mount destination of a container."""

from __future__ import annotations

import os

import pytest

from ansible_collections.undock.oci.plugins.module_utils.runtime.destinations import contain_mounts
from ansible_collections.undock.oci.plugins.module_utils.runtime.errors import ContainerError

pytestmark = pytest.mark.unit
OWN = ["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup"]


def mounts(*targets):
    return [{"destination": t, "type": "bind", "source": "/src" + t} for t in targets]


def rootfs(tmp_path, links=(), dirs=()):
    root = tmp_path / "rootfs"
    root.mkdir()
    for name in dirs:
        (root / name).mkdir(parents=True)
    for name, target in links:
        os.symlink(target, str(root / name))
    return str(root)


def test_destinations_are_resolved_inside_the_rootfs(tmp_path):
    root = rootfs(tmp_path, links=[("a", "/etc"), ("b", "../../../tmp/x"), ("c", "a/sub")], dirs=["etc"])
    got = contain_mounts(root, mounts(*OWN) + mounts("/a", "/b", "/c", "/plain"), OWN)
    assert [m["destination"] for m in got] == OWN + ["/etc", "/tmp/x", "/etc/sub", "/plain"]
    assert [m["source"] for m in got][-4:] == ["/src/a", "/src/b", "/src/c", "/src/plain"]


def test_below_an_earlier_mount_only_that_mount_is_rewritten(tmp_path):
    # /a/b in the image is a link, but at run time /a is the earlier bind: runc resolves b in it
    root = rootfs(tmp_path, links=[("a", "/etc"), ("etc/b", "/proc")], dirs=["etc"])
    got = contain_mounts(root, mounts("/a", "/a/b"), OWN)
    assert [m["destination"] for m in got] == ["/etc", "/etc/b"]


@pytest.mark.parametrize("link", ["/", "/etc", "../../..", "/tmp/elsewhere"])
def test_a_runtime_mount_point_that_is_a_link_is_refused(tmp_path, link):
    root = rootfs(tmp_path, links=[("dev", link)])
    with pytest.raises(ContainerError, match="the image's /dev is a symlink to %s" % link):
        contain_mounts(root, mounts(*OWN), OWN)


def test_a_runtime_mount_point_that_is_a_file_is_refused_and_below_dev_is_hidden(tmp_path):
    root = rootfs(tmp_path, dirs=["dev"])
    os.symlink("/etc", os.path.join(root, "dev", "pts"))  # under runc's /dev tmpfs: never seen
    assert contain_mounts(root, mounts(*OWN), OWN) == mounts(*OWN)
    with open(os.path.join(root, "proc"), "w"):
        pass
    with pytest.raises(ContainerError, match="the image's /proc is not a directory"):
        contain_mounts(root, mounts(*OWN), OWN)


def test_a_destination_resolving_into_a_kernel_filesystem_is_refused(tmp_path):
    root = rootfs(tmp_path, links=[("data", "../proc/self/fd/3")])
    with pytest.raises(ContainerError, match=r"volume /data is inside /proc \(through symlinks in the image, "
                                             r"it is /proc/self/fd/3\)"):
        contain_mounts(root, mounts("/data"), OWN)
