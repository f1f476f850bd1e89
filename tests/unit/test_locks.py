# -*- coding: utf-8 -*-
"""common.locks: the one file lock of the engine, against real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.undock.oci.plugins.module_utils.common.locks import FileLock, LockTimeout

pytestmark = pytest.mark.unit

HOLDER = r'''
import sys, time
sys.path[:0] = %r
from ansible_collections.undock.oci.plugins.module_utils.common.locks import FileLock
lock = FileLock(sys.argv[1], shared=sys.argv[2] == "shared")
lock.acquire()
print("held", flush=True)
time.sleep(60)
'''


def hold(path: str, shared: bool = False) -> subprocess.Popen:
    """Another process holding the lock until it is killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER % (sys.path,), path, "shared" if shared else "exclusive"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_another_process_holding_it_times_out_then_kill_9_frees_it(tmp_path):
    path = str(tmp_path / "x.lock")
    holder = hold(path)
    try:
        start = time.monotonic()
        with pytest.raises(LockTimeout, match="x.lock is locked by another process"):
            FileLock(path).acquire(timeout=0.3)
        assert 0.25 <= time.monotonic() - start < 5
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with FileLock(path).acquire(timeout=2) as lock:  # the kernel dropped the dead holder's lock
        assert lock.is_locked
    assert not lock.is_locked


def test_shared_holders_coexist_and_keep_an_exclusive_one_out(tmp_path):
    path = str(tmp_path / "gc.lock")
    holder = hold(path, shared=True)
    try:
        with FileLock(path, shared=True).acquire(timeout=0):
            pass
        with pytest.raises(LockTimeout):
            FileLock(path).acquire(timeout=0)
    finally:
        holder.kill()
        holder.wait()


def test_one_instance_is_reentrant_and_released_by_the_last_exit(tmp_path):
    path = str(tmp_path / "r.lock")
    lock = FileLock(path)
    with lock:
        with lock:
            with lock.acquire(timeout=0):
                assert lock.is_locked
        assert lock.is_locked
        with pytest.raises(LockTimeout):
            FileLock(path).acquire(timeout=0)  # a second instance is a second holder
    assert not lock.is_locked
    FileLock(path).acquire(timeout=0).lock.release()


def test_threads_with_their_own_instances_exclude_each_other(tmp_path):
    path = str(tmp_path / "t.lock")
    inside, overlaps = [0], []

    def work() -> None:
        for _ in range(20):
            with FileLock(path):
                inside[0] += 1
                overlaps.append(inside[0])
                time.sleep(0.001)
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(overlaps) == 80 and max(overlaps) == 1


def test_a_directory_is_locked_in_place_and_a_symlink_is_not_followed(tmp_path):
    directory = tmp_path / "store"
    directory.mkdir()
    with FileLock(str(directory)):
        assert sorted(os.listdir(directory)) == []  # nothing written into it
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    (tmp_path / "link.lock").symlink_to(target)
    with pytest.raises(OSError):
        FileLock(str(tmp_path / "link.lock")).acquire()
    assert target.read_text() == "keep"
