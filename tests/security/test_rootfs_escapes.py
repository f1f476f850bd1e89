# -*- coding: utf-8 -*-
"""Hostile symlinks against storage.rootfs: nothing outside the rootfs is ever read,
opened or created, whatever the tree holds (absolute targets, ``..`` chains, loops,
/proc/self/root, dangling links used with O_CREAT).

``host`` is a directory outside the rootfs holding ``secret`` ("HOST"). The rootfs holds
decoys at the in-root place each hostile link really names ("INSIDE"), so every case
tells "resolved inside" from "escaped" by content, not only by an error.
"""

from __future__ import annotations

import errno
import os
import time

import pytest

from ansible_collections.undock.oci.plugins.module_utils.storage.rootfs import (
    open_in_root, read_file_in_root, resolve_in_root)


@pytest.fixture
def trees(tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_text("HOST")
    root = tmp_path / "rootfs"
    root.mkdir()
    # Decoys where the hostile links point once read inside the rootfs.
    inside_host = root / str(host).lstrip("/")
    inside_host.mkdir(parents=True)
    (inside_host / "secret").write_text("INSIDE")
    (root / "host").mkdir()
    (root / "host" / "secret").write_text("INSIDE")
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("INSIDE")
    links = {
        "abs-to-host": str(host / "secret"),                    # absolute host path
        "abs-dir-to-host": str(host),
        "rel-climb": "../host/secret",                          # lexically tmp_path/host/secret
        "deep-climb": "../" * 30 + str(host).lstrip("/") + "/secret",
        "dotdot-dir": "../../../..",
        "proc-root": "/proc/self/root" + str(host) + "/secret",
        "loop-a": "loop-b", "loop-b": "loop-a",
        "self-loop": "self-loop/x",
        "dangling-out": str(host) + "/created",
        "dot": ".",
    }
    for name, target in links.items():
        os.symlink(target, str(root / name))
    os.symlink("../../../../../../" + str(host).lstrip("/"), str(root / "etc" / "up"))
    return str(root), str(host)


@pytest.mark.parametrize("path", ["abs-to-host", "rel-climb", "deep-climb", "abs-dir-to-host/secret",
                                  "dotdot-dir/host/secret", "etc/up/secret", "/../../host/secret",
                                  "dot/dot/rel-climb", "etc/../../../host/secret"])
def test_escaping_links_resolve_inside(trees, path):
    root, host = trees
    assert read_file_in_root(root, path, 100) == b"INSIDE"
    fd = open_in_root(root, path)
    try:
        assert os.read(fd, 100) == b"INSIDE"
    finally:
        os.close(fd)
    assert resolve_in_root(root, path).startswith(root + os.sep)


def test_proc_self_root_is_just_a_path_inside(trees):
    root, dummy = trees
    with pytest.raises(FileNotFoundError):
        read_file_in_root(root, "proc-root", 100)
    assert resolve_in_root(root, "proc-root").startswith(os.path.join(root, "proc", "self", "root"))


@pytest.mark.parametrize("path", ["loop-a", "loop-b/x", "self-loop", "self-loop/y/z"])
def test_loops_end_with_eloop_quickly(trees, path):
    root, dummy = trees
    start = time.monotonic()
    with pytest.raises(OSError) as err:
        open_in_root(root, path)
    assert err.value.errno == errno.ELOOP
    with pytest.raises(OSError):
        resolve_in_root(root, path)
    assert time.monotonic() - start < 5


def test_create_through_a_dangling_link_stays_inside(trees):
    root, host = trees
    fd = open_in_root(root, "dangling-out", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"written")
    finally:
        os.close(fd)
    assert not os.path.exists(os.path.join(host, "created"))
    with open(os.path.join(root, host.lstrip("/"), "created"), "rb") as handle:
        assert handle.read() == b"written"


def test_directories_listed_are_the_inside_ones(trees):
    root, host = trees
    fd = open_in_root(root, "abs-dir-to-host", os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert sorted(os.listdir(fd)) == ["secret"]
        assert os.read(os.open("secret", os.O_RDONLY, dir_fd=fd), 10) == b"INSIDE"
    finally:
        os.close(fd)


def test_special_files_are_not_read(trees, tmp_path):
    root, dummy = trees
    os.mkfifo(os.path.join(root, "fifo"))
    os.symlink("/dev/zero", os.path.join(root, "zero"))
    start = time.monotonic()
    with pytest.raises(OSError) as err:
        read_file_in_root(root, "fifo", 100)
    assert err.value.errno == errno.EINVAL
    with pytest.raises(FileNotFoundError):  # /dev/zero of the rootfs, which has none
        read_file_in_root(root, "zero", 100)
    assert time.monotonic() - start < 5


def test_a_root_that_is_a_symlink_is_used_as_given(trees, tmp_path):
    root, dummy = trees
    alias = str(tmp_path / "alias")
    os.symlink(root, alias)
    assert read_file_in_root(alias, "/etc/passwd", 100) == b"INSIDE"
