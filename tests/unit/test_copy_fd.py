# -*- coding: utf-8 -*-
"""common.fileutil.copy_fd: the one descriptor-to-descriptor copy (layer merges, build COPY/ADD)."""

from __future__ import annotations

import errno
import os

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.fileutil import copy_fd, copy_fd_to_new

pytestmark = pytest.mark.unit


def _copy(tmp_path, data: bytes, size=None) -> bytes:
    src_path, dst_path = tmp_path / "src", tmp_path / "dst"
    src_path.write_bytes(data)
    src = os.open(src_path, os.O_RDONLY)
    dst = os.open(dst_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        copy_fd(src, dst, size)
    finally:
        os.close(src)
        os.close(dst)
    return dst_path.read_bytes()


@pytest.mark.parametrize("length", [0, 1, (1 << 20) + 7, 3 << 20])
def test_copies_every_byte(tmp_path, length):
    data = os.urandom(length)
    assert _copy(tmp_path, data) == data


def test_copies_only_the_size_asked(tmp_path):
    assert _copy(tmp_path, b"0123456789", size=4) == b"0123"


@pytest.mark.parametrize("failure", [errno.EXDEV, errno.EINVAL, errno.ENOSYS])
def test_falls_back_to_reads_and_full_writes_when_the_kernel_refuses(tmp_path, monkeypatch, failure):
    # copy_file_range refuses across some filesystems and on old kernels: the fault is the kernel's
    def refuse(*args):
        raise OSError(failure, os.strerror(failure))

    monkeypatch.setattr(os, "copy_file_range", refuse)
    data = os.urandom((2 << 20) + 13)
    assert _copy(tmp_path, data) == data


def test_a_refusal_halfway_starts_the_copy_again(tmp_path, monkeypatch):
    real = os.copy_file_range
    calls = []

    def once_then_refuse(src, dst, count, *rest):
        calls.append(count)
        if len(calls) > 1:
            raise OSError(errno.EIO, "refused halfway")
        return real(src, dst, min(count, 4096))

    monkeypatch.setattr(os, "copy_file_range", once_then_refuse)
    data = os.urandom(100000)
    assert _copy(tmp_path, data) == data
    assert len(calls) == 2


def test_copy_to_new_makes_a_private_file_and_never_writes_over_or_through(tmp_path):
    src_path = tmp_path / "src"
    src_path.write_bytes(b"content")
    (tmp_path / "outside").write_bytes(b"keep")
    os.symlink(tmp_path / "outside", tmp_path / "link")
    src = os.open(src_path, os.O_RDONLY)
    try:
        copy_fd_to_new(src, str(tmp_path / "new"))
        for taken in ("new", "link"):
            os.lseek(src, 0, os.SEEK_SET)
            with pytest.raises(FileExistsError):
                copy_fd_to_new(src, str(tmp_path / taken))
        dir_fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.lseek(src, 0, os.SEEK_SET)
            copy_fd_to_new(src, "relative", dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        os.close(src)
    assert (tmp_path / "new").read_bytes() == b"content"
    assert (tmp_path / "relative").read_bytes() == b"content"
    assert os.stat(tmp_path / "new").st_mode & 0o777 == 0o600
    assert (tmp_path / "outside").read_bytes() == b"keep"
