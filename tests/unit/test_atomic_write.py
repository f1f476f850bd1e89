# -*- coding: utf-8 -*-
"""atomic_write: whole files in place, with or without the fsyncs (durable=False is for the runtime root)."""

import os

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common import fileutil
from ansible_collections.undock.oci.plugins.module_utils.common.fileutil import atomic_write


def count_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list:
    calls: list = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(fileutil.os, "fsync", counting)
    return calls


@pytest.mark.parametrize("durable, fsyncs", [(True, 2), (False, 0)])
def test_atomic_write_replaces_whole_file(tmp_path, monkeypatch, durable, fsyncs):
    path = str(tmp_path / "state.json")
    atomic_write(path, b"old", 0o600, durable=durable)
    calls = count_fsyncs(monkeypatch)
    atomic_write(path, b"new", 0o644, durable=durable)
    with open(path, "rb") as handle:
        assert handle.read() == b"new"
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert os.listdir(str(tmp_path)) == ["state.json"]  # no temp file left behind
    assert len(calls) == fsyncs
