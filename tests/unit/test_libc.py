# -*- coding: utf-8 -*-
"""common/libc: the libc calls the standard library does not wrap, looked up once."""

from __future__ import annotations

import errno

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.libc import last_errno, libc_function, libc_functions

pytestmark = pytest.mark.unit


def test_each_function_is_looked_up_once_and_typed():
    mount = libc_function("mount")
    assert mount is not None and libc_function("mount") is mount
    assert libc_functions("unshare", "mount")[1] is mount


def test_a_failed_call_leaves_its_errno():
    sync_file_range = libc_function("sync_file_range")
    assert sync_file_range(-1, 0, 0, 2) == -1
    assert last_errno() == errno.EBADF


def test_only_known_prototypes():
    with pytest.raises(KeyError):
        libc_function("system")
