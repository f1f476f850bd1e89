# -*- coding: utf-8 -*-
"""The context files' digests kept by stat from one build to the next (context/stat_cache.py)
on real temporary trees: a digest is taken only for a file whose stat is the one it was
hashed with, so a touched file is read again (same digest) and a changed file is read again
(new digest) even when its size and mtime are as before."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from ansible_collections.undock.oci.plugins.module_utils.build.context import stat_cache
from ansible_collections.undock.oci.plugins.module_utils.build.context.snapshot import FILE, take_snapshot
from ansible_collections.undock.oci.plugins.module_utils.build.context.stat_cache import kept_digests, reuse_digests

pytestmark = pytest.mark.unit

TICK = 0.05  # longer than the kernel's coarse clock tick that stamps ctime and mtime


def _write(path, content: bytes) -> None:
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), "wb") as handle:
        handle.write(content)


def _hash_all(snapshot):
    return {e.path: snapshot.file_sha256(e) for e in snapshot.walk() if e.kind == FILE}


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    """A context whose files count as old enough to keep (RACY_NS 0, one clock tick later)."""
    monkeypatch.setattr(stat_cache, "RACY_NS", 0)
    root = tmp_path / "ctx"
    for rel, content in (("a.txt", b"alpha\n"), ("dir/b.txt", b"bravo\n"), ("big.bin", os.urandom(1024 * 1024))):
        _write(root / rel, content)
    os.symlink("a.txt", str(root / "link"))
    time.sleep(TICK)
    return root


def _kept(root):
    first = take_snapshot(str(root))
    digests = _hash_all(first)
    return digests, kept_digests(first)


def _counted_reads(snapshot, monkeypatch):
    reads = []
    original = type(snapshot).file_sha256

    def counting(self, entry):
        if self.known(entry.path) is None:
            reads.append(entry.path)
        return original(self, entry)
    monkeypatch.setattr(type(snapshot), "file_sha256", counting)
    return reads


def test_unchanged_files_are_not_read_again(ctx, monkeypatch):
    digests, kept = _kept(ctx)
    assert sorted(kept) == ["a.txt", "big.bin", "dir/b.txt"]  # files only: no directory, no symlink
    assert kept["a.txt"][5] == hashlib.sha256(b"alpha\n").hexdigest()
    again = take_snapshot(str(ctx))
    assert reuse_digests(again, kept) == 3
    reads = _counted_reads(again, monkeypatch)
    assert _hash_all(again) == digests and reads == []


def test_touched_file_is_read_again_with_the_same_digest(ctx, monkeypatch):
    digests, kept = _kept(ctx)
    os.utime(str(ctx / "big.bin"), (1, 1))
    again = take_snapshot(str(ctx))
    assert reuse_digests(again, kept) == 2
    reads = _counted_reads(again, monkeypatch)
    assert _hash_all(again) == digests and reads == ["big.bin"]


def test_changed_content_with_the_same_size_and_mtime_is_read_again(ctx, monkeypatch):
    digests, kept = _kept(ctx)
    path = str(ctx / "a.txt")
    st = os.stat(path)
    _write(path, b"ALPHA\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # size and mtime as they were: ctime is not
    again = take_snapshot(str(ctx))
    assert (again.entries["a.txt"].size, again.entries["a.txt"].mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert reuse_digests(again, kept) == 2
    reads = _counted_reads(again, monkeypatch)
    assert _hash_all(again) == dict(digests, **{"a.txt": hashlib.sha256(b"ALPHA\n").hexdigest()})
    assert reads == ["a.txt"]


def test_replaced_file_is_read_again(ctx):
    digests, kept = _kept(ctx)
    path = str(ctx / "dir" / "b.txt")
    st = os.stat(path)
    _write(path + ".new", b"BRAVO\n")
    os.utime(path + ".new", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.rename(path + ".new", path)  # another inode, same size and mtime
    again = take_snapshot(str(ctx))
    assert reuse_digests(again, kept) == 2
    assert _hash_all(again)["dir/b.txt"] == hashlib.sha256(b"BRAVO\n").hexdigest()


def test_added_and_removed_files(ctx):
    digests, kept = _kept(ctx)
    os.remove(str(ctx / "a.txt"))
    _write(ctx / "c.txt", b"charlie\n")
    again = take_snapshot(str(ctx))
    assert reuse_digests(again, kept) == 2
    assert _hash_all(again) == {"big.bin": digests["big.bin"], "dir/b.txt": digests["dir/b.txt"],
                                "c.txt": hashlib.sha256(b"charlie\n").hexdigest()}


def test_a_file_now_a_directory_or_symlink_takes_nothing(ctx):
    digests, kept = _kept(ctx)
    os.remove(str(ctx / "a.txt"))
    os.mkdir(str(ctx / "a.txt"))
    again = take_snapshot(str(ctx))
    assert reuse_digests(again, kept) == 2 and again.known("a.txt") is None


def test_files_changed_within_the_racy_window_are_not_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(stat_cache, "RACY_NS", 2 * 1000 * 1000 * 1000)
    _write(tmp_path / "ctx" / "fresh.txt", b"just written\n")
    snapshot = take_snapshot(str(tmp_path / "ctx"))
    _hash_all(snapshot)
    assert kept_digests(snapshot) == {}


def test_a_file_changed_between_walk_and_read_is_not_kept(ctx):
    snapshot = take_snapshot(str(ctx))
    time.sleep(TICK)
    _write(ctx / "a.txt", b"ALPHA\n")  # same size: the read succeeds, the stat after it differs
    _hash_all(snapshot)
    assert "a.txt" not in kept_digests(snapshot) and "dir/b.txt" in kept_digests(snapshot)


@pytest.mark.parametrize("kept", [
    None, [], "x", {"a.txt": "digest"}, {"a.txt": [1, 2, 3]},
    {"a.txt": [6, 0, 0, 0, 0, "0" * 64]},                   # another stat
    {"dir": [0, 0, 0, 0, 0, "0" * 64]}, {"missing": [0, 0, 0, 0, 0, "0" * 64]},
])
def test_anything_else_in_the_record_takes_nothing(ctx, kept):
    snapshot = take_snapshot(str(ctx))
    assert reuse_digests(snapshot, kept) == 0 and snapshot.known("a.txt") is None


@pytest.mark.parametrize("digest", ["Z" * 64, "0" * 63, 12, None, "G" + "0" * 63])
def test_a_recorded_digest_that_is_not_sha256_hex_is_ignored(ctx, digest):
    digests, kept = _kept(ctx)
    kept["a.txt"][5] = digest
    again = take_snapshot(str(ctx))
    assert reuse_digests(again, kept) == 2 and again.known("a.txt") is None
