# -*- coding: utf-8 -*-
"""storage.rootfs on ordinary trees: the API the scanners, the runtime and the build call."""

from __future__ import annotations

import os

import pytest

from ansible_collections.undock.oci.plugins.module_utils.storage.rootfs import (
    SymlinkInPathError, open_dir_at, open_in_root, read_file_in_root, resolve_in_root)


@pytest.fixture
def root(tmp_path):
    base = tmp_path / "rootfs"
    (base / "etc").mkdir(parents=True)
    (base / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (base / "usr" / "lib").mkdir(parents=True)
    os.symlink("usr/lib", str(base / "lib"))
    os.symlink("/etc/passwd", str(base / "passwd-link"))
    return str(base)


def test_reads_files_through_in_root_symlinks(root):
    assert read_file_in_root(root, "/etc/passwd", 1024).startswith(b"root:x:0:0")
    assert read_file_in_root(root, "passwd-link", 1024).startswith(b"root:x:0:0")
    assert read_file_in_root(root, "/etc/passwd", 4) == b"root"
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:  # a descriptor of the root works as well as its path
        assert read_file_in_root(fd, "etc/../passwd-link", 4) == b"root"
    finally:
        os.close(fd)


def test_open_in_root_creates_and_opens_directories(root):
    fd = open_in_root(root, "/lib/new.conf", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        os.write(fd, b"x")
    finally:
        os.close(fd)
    assert os.path.isfile(os.path.join(root, "usr", "lib", "new.conf"))
    with pytest.raises(FileExistsError):
        open_in_root(root, "lib/new.conf", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    fd = open_in_root(root, "/lib/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert os.listdir(fd) == ["new.conf"]
    finally:
        os.close(fd)
    fd = open_in_root(root, "/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert "etc" in os.listdir(fd)
    finally:
        os.close(fd)


def test_errors_are_oserrors(root):
    with pytest.raises(FileNotFoundError):
        open_in_root(root, "/etc/missing")
    with pytest.raises(NotADirectoryError):
        open_in_root(root, "/etc/passwd/x")
    with pytest.raises(IsADirectoryError):
        read_file_in_root(root, "/etc", 10)
    with pytest.raises(OSError) as err:
        open_in_root(root, "passwd-link", os.O_RDONLY | os.O_NOFOLLOW)
    assert err.value.errno == 40  # ELOOP: the final symlink is not followed


def test_resolve_in_root_keeps_missing_components(root):
    assert resolve_in_root(root, "/") == root
    assert resolve_in_root(root, "/lib/x86_64") == os.path.join(root, "usr", "lib", "x86_64")
    assert resolve_in_root(root, "/work/dir/../app") == os.path.join(root, "work", "app")
    assert resolve_in_root(root, "passwd-link") == os.path.join(root, "etc", "passwd")


def test_open_dir_at_never_follows(root):
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        etc = open_dir_at(fd, "etc")
        try:
            with pytest.raises(NotADirectoryError):
                open_dir_at(etc, "passwd")
        finally:
            os.close(etc)
        with pytest.raises(SymlinkInPathError):
            open_dir_at(fd, "lib")
        with pytest.raises(SymlinkInPathError):
            open_dir_at(fd, "passwd-link")  # a symlink to a file: still a symlink, not followed
        with pytest.raises(FileNotFoundError):
            open_dir_at(fd, "nothing")
    finally:
        os.close(fd)
