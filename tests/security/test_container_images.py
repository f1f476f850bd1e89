# -*- coding: utf-8 -*-
"""Hostile images run as containers, each contained with a clear error or kept inside the
rootfs: /etc/passwd or /etc/group a symlink to the host's (read inside the rootfs only),
WORKDIR /proc/self/fd/7 (directly or through a symlink), Volumes with '..', a
Volume that is a symlink out of the rootfs (seeded from inside it only); an image /dev that is a
symlink (to /, /etc, a host directory, ../../..: refused before runc runs, nothing made or
mounted on the host); bind, tmpfs and named-volume destinations that are symlinks in the image
(resolved inside the rootfs, and runc given the resolved path)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

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


# -- /dev a symlink: runc 1.1 makes /dev/fd, /dev/stdin... and /dev/ptmx by plain path joins --

RUNC_LINKS = ("/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2", "/proc/kcore", "pts/ptmx")
RUNC_DEV_FILES = ("fd", "stdin", "stdout", "stderr", "core", "ptmx", "pts", "shm", "mqueue", "null", "zero", "tty")


def host_points():
    return {e["point"] for e in M.mountinfo()}


def facts(directory):
    """What runc would make or remove in ``directory`` if it followed the image's link."""
    return {name: os.path.lexists(os.path.join(directory, name)) for name in RUNC_DEV_FILES}


def tree(directory):
    found = {}
    for base, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = os.path.join(base, name)
            st = os.lstat(path)
            found[os.path.relpath(path, directory)] = (st.st_mode, st.st_mtime_ns)
    return found


DEV_LINKS = {
    "root": "/",
    "etc": "/etc",
    "outside-absolute": "{outside}",
    "outside-relative": "../../../../../outside",  # from store/containers/NAME/bundle/rootfs to tmp_path
    "dotdot": "../../..",                          # the store's containers/ directory
}


@pytest.mark.parametrize("case", sorted(DEV_LINKS))
def test_dev_symlink_is_refused_and_nothing_lands_outside(containers, registry, tmp_path, case):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("host\n")
    link = DEV_LINKS[case].format(outside=outside)
    rootfs = tmp_path / "store" / "containers" / "devlink" / "bundle" / "rootfs"
    host_target = os.path.normpath(os.path.join(str(rootfs), link))  # what the kernel follows on the host
    image = push(registry, "dev-link-" + case, [I.Entry("dev", "symlink", target=link)])
    containers.images.present(image)
    before_points, before_facts = host_points(), facts(host_target)
    before_tree = tree(str(outside))
    try:
        with pytest.raises(ContainerError, match=r"the image's /dev is a symlink to %s: the OCI runtime mounts "
                                                 r"/dev there .* refusing the image" % re.escape(link)):
            containers.ensure(dict(name="devlink", image=image, command="true"))
        assert facts(host_target) == before_facts
    finally:  # an engine that let runc follow the link made these on the host (runc 1.1.5 did, in /etc)
        for name, existed in before_facts.items():
            path = os.path.join(host_target, name)
            if not existed and os.path.islink(path) and os.readlink(path) in RUNC_LINKS:
                os.unlink(path)
    assert tree(str(outside)) == before_tree
    new = host_points() - before_points
    watched = [host_target + s for s in ("", "/pts", "/shm", "/mqueue")]
    assert not [p for p in new if p in watched or p.startswith(str(tmp_path) + "/")], new
    assert not os.path.exists(tmp_path / "store" / "containers" / "devlink")


def test_dev_symlink_below_a_real_dev_is_hidden_by_the_runtime_tmpfs(containers, registry):
    """Only the image's /dev itself matters: runc mounts a tmpfs on it before anything below."""
    image = push(registry, "dev-shm-link", [I.Entry("dev/", "dir", mode=0o755),
                                            I.Entry("dev/shm", "symlink", target="/etc")])
    out = containers.ensure(dict(name="devshm", image=image, command="sleep 30", stop_timeout=0))
    assert out.values["container"]["state"] == "running"


# -- mount destinations that are symlinks in the image: resolved inside the rootfs, for runc --

def test_mount_destinations_through_image_symlinks_land_inside_the_rootfs(containers, registry, tmp_path):
    pid = os.getpid()
    tmp_x, tmp_t = "/tmp/undock-x-%d" % pid, "/tmp/undock-t-%d" % pid
    outside = tmp_path / "outside-b"
    source = tmp_path / "host-src"
    source.mkdir()
    (source / "from-host").write_text("host file\n")
    links = [I.Entry("ctr", "symlink", target="/etc"),               # a host-looking absolute link
             I.Entry("rel", "symlink", target="../../.." + tmp_x),   # climbs to the host's /tmp
             I.Entry("abs", "symlink", target=str(outside)),         # an absolute host path
             I.Entry("t", "symlink", target="../../../../.." + tmp_t),
             I.Entry("v", "symlink", target="/srv/vol")]
    image = push(registry, "bind-links", links)
    before_points = host_points()
    watched = {"/etc": sorted(os.listdir("/etc"))}
    assert not os.path.lexists(tmp_x) and not os.path.lexists(tmp_t) and not outside.exists()
    script = ("cat /etc/from-host %s/from-host %s/from-host; grep -c . /etc/passwd; "
              "echo t > %s/written; echo v > /srv/vol/written; echo done; sleep 30") % (tmp_x, outside, tmp_t)
    out = containers.ensure(dict(name="binds", image=image, stop_timeout=0, command=["sh", "-c", script],
                                 volumes=["%s:/ctr:ro" % source, "%s:/rel" % source, "%s:/abs" % source,
                                          "named:/v"],
                                 tmpfs={"/t": ""}))
    info = out.values["container"]
    assert info["state"] == "running"
    with open(os.path.join(info["bundle"], "config.json")) as handle:
        destinations = {m["destination"] for m in json.load(handle)["mounts"]}
    assert {"/etc", tmp_x, str(outside), tmp_t, "/srv/vol"} <= destinations, destinations
    assert not {"/ctr", "/rel", "/abs", "/t", "/v"} & destinations
    manager = Containers(containers.images.store(), containers.images.run_root)
    deadline = time.monotonic() + 15
    while "done" not in manager.info("binds")["logs"] and time.monotonic() < deadline:
        time.sleep(0.05)
    logs = manager.info("binds")["logs"]
    assert logs[:3] == ["host file"] * 3 and logs[-1] == "done", logs
    # nothing on the host: no mount, no file where the links point
    new = host_points() - before_points
    assert not [p for p in new if not p.startswith(str(tmp_path) + "/")
                and (p.startswith(("/etc", "/srv", tmp_x, tmp_t)))], new
    assert not [p for p in new if p.startswith(str(outside))], new
    assert sorted(os.listdir("/etc")) == watched["/etc"]
    assert not os.path.lexists(tmp_x) and not os.path.lexists(tmp_t) and not outside.exists()
    assert sorted(os.listdir(source)) == ["from-host"]
    rootfs = os.path.join(info["bundle"], "rootfs")
    assert os.path.isdir(os.path.join(rootfs, tmp_x.lstrip("/")))  # the mount point was made in the rootfs
    assert os.path.exists(os.path.join(str(tmp_path), "store", "volumes", "named", "_data", "written"))


# -- /etc/passwd and /etc/group that are symlinks to the host's: read inside the rootfs only --

PASSWD_LINKS = {
    # inside the rootfs the climb stops at / and the link points at itself
    "climbing": ("etc/passwd", "../../../../../../../../../../etc/passwd", "daemon",
                 r"cannot read /etc/passwd of the image: too many levels of symbolic links"),
    "through-proc": ("etc/passwd", "/proc/1/root/etc/passwd", "daemon", r"user 'daemon' is not in the image's /etc/passwd"),
    "group": ("etc/group", "../../../../../../../../../../etc/group", "root:daemon",
              r"cannot read /etc/group of the image: too many levels of symbolic links"),
}


@pytest.mark.parametrize("case", sorted(PASSWD_LINKS))
def test_symlinked_passwd_never_reads_the_host(containers, registry, tmp_path, case):
    """The host has a user and a group ``daemon``; an image whose /etc/passwd or /etc/group is a
    link to the host's must not find them: the user is refused, naming the file, and nothing is left."""
    path, target, user, message = PASSWD_LINKS[case]
    with open("/" + path) as handle:
        assert any(line.startswith("daemon:") for line in handle)  # the host has what the link points at
    layer = [I.Entry(path, "symlink", target=target)]
    image = push(registry, "passwd-link-" + case, layer)
    with pytest.raises(ContainerError, match=message):
        containers.ensure(dict(name="passwd", image=image, command="true", user=user))
    assert not os.path.exists(tmp_path / "store" / "containers" / "passwd")
