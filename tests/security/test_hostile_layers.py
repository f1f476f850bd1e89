# -*- coding: utf-8 -*-
"""Hostile layers against the real unpacker: rejected with the entry named, or contained.

Each case unpacks into ``sandbox/dest/layer``; ``sandbox/sentinel`` (files, dirs, a
symlink, xattrs, all checksummed with mtimes) is what the layers aim at. After every
case, and again after the caller-side cleanup (``remove_tree``), nothing outside the
layer directory may have changed or appeared.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import sys
import tracemalloc

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile  # noqa: E402

from ansible_collections.undock.oci.plugins.module_utils.common.errors import LayerError  # noqa: E402
from ansible_collections.undock.oci.plugins.module_utils.storage.trees import remove_tree  # noqa: E402
from ansible_collections.undock.oci.plugins.module_utils.storage.unpack import unpack_layer  # noqa: E402

MARKER = "UNDOCK_ESCAPED_7f3a"
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts and devices need root")


@pytest.fixture(scope="session")
def base(tmp_path_factory):
    return str(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="session")
def corpus(base):
    return {case.name: case for case in hostile.build_corpus(os.path.join(base, "sandbox", "sentinel"),
                                                                MARKER)}


@pytest.fixture
def sandbox(base):
    sandbox = os.path.join(base, "sandbox")
    if os.path.lexists(sandbox):
        remove_tree(sandbox)
    os.makedirs(os.path.join(sandbox, "dest"))
    hostile.make_sentinel(sandbox)
    os.mkdir(os.path.join(sandbox, "dest", "layer"), 0o700)
    return sandbox


def _escaped_anywhere() -> list:
    found = []
    for place in ("/", "/tmp", "/etc", os.getcwd()):
        if os.path.lexists(os.path.join(place, MARKER)):
            found.append(os.path.join(place, MARKER))
    return found


def _run_case(case, sandbox, threads=False):
    layer = os.path.join(sandbox, "dest", "layer")
    before = hostile.snapshot(sandbox, layer)
    error = None
    try:
        unpack_layer(io.BytesIO(case.blob), layer, media_type=case.media_type, threads=threads,
                     **case.limits)
    except LayerError as err:
        error = err
    after = hostile.snapshot(sandbox, layer)
    assert after == before, "%s changed something outside the layer: %s" % (
        case.name, sorted(set(after.items()) ^ set(before.items()))[:6])
    assert not _escaped_anywhere()
    # Nothing inside the layer may be a way out at unpack time either: every path
    # stays below it when resolved without following symlinks (checked by lstat).
    return layer, error, before


def test_corpus_is_complete(corpus):
    names = set(corpus)
    # Every attack class of ANCHORS.md is represented.
    for needed in ("absolute-name", "dotdot-escape", "symlink-then-write-through",
                   "symlink-dotdot-chain", "hardlink-dotdot-out", "hardlink-to-symlink",
                   "whiteout-bare", "whiteout-dot", "whiteout-dotdot", "opaque-inside-whiteout",
                   "whiteout-plain-in-opaque", "device-nodes", "gzip-bomb", "pax-header-8g",
                   "gnu-longname-2m", "pax-path-nul", "many-entries", "file-dir-symlink-games"):
        assert needed in names
    for case in corpus.values():
        assert case.expect in ("reject", "contain")
        assert case.blob


def _case_ids():
    return [c.name for c in hostile.build_corpus("/nonexistent/sentinel", MARKER)]


@ROOT_ONLY
@pytest.mark.parametrize("threads", [False, True], ids=["inline", "threaded"])
@pytest.mark.parametrize("name", _case_ids())
def test_hostile_layer(name, threads, corpus, sandbox):
    case = corpus[name]
    layer, error, before = _run_case(case, sandbox, threads)
    if case.expect == "reject":
        assert error is not None, "%s (%s) was not rejected" % (case.name, case.about)
        assert case.detail in str(error), "%s: %r does not name %r" % (case.name, str(error),
                                                                         case.detail)
    else:
        assert error is None, "%s (%s) failed: %s" % (case.name, case.about, error)
        hostile.check_layer(layer, case.checks)
    # The caller discards the layer dir; that must not follow anything either.
    remove_tree(layer)
    assert not os.path.lexists(layer)
    after = hostile.snapshot(sandbox, layer)
    del after["dest"], before["dest"]  # its mtime and link count change, by design
    assert after == before


@pytest.mark.parametrize("name", ["pax-header-8g", "pax-header-base256-huge", "gnu-longlink-8g"])
def test_huge_header_rejected_before_allocation(name, corpus, sandbox):
    case = corpus[name]
    tracemalloc.start()
    try:
        with pytest.raises(LayerError) as info:
            unpack_layer(io.BytesIO(case.blob), os.path.join(sandbox, "dest", "layer"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "exceeds the limit" in str(info.value)
    assert peak < 4 << 20


def test_bomb_stops_early(corpus, sandbox):
    case = corpus["gzip-bomb"]
    assert len(case.blob) < 256 << 10  # small input...
    layer = os.path.join(sandbox, "dest", "layer")
    with pytest.raises(LayerError, match="size limit"):
        unpack_layer(io.BytesIO(case.blob), layer, **case.limits)
    # ...and nothing much was written before the limit hit.
    written = sum(os.lstat(os.path.join(dp, n)).st_size
                  for dp, _, fns in os.walk(layer) for n in fns)
    assert written <= case.limits["max_size"]


@ROOT_ONLY
def test_two_step_escape_across_layers_is_contained(sandbox):
    """Layer 1: ``lib -> outside``; layer 2: ``lib/evil``. Each layer has its own dir."""
    outside = os.path.join(sandbox, "sentinel")
    layer1 = os.path.join(sandbox, "dest", "layer")
    layer2 = os.path.join(sandbox, "dest", "layer2")
    os.mkdir(layer2, 0o700)
    before = hostile.snapshot(sandbox, os.path.join(sandbox, "dest"))
    unpack_layer(io.BytesIO(hostile.tar(hostile.sym("lib", outside))), layer1)
    unpack_layer(io.BytesIO(hostile.tar(hostile.f("lib/evil", b"pwned"),
                                        hostile.f("lib/.wh.secret"))), layer2)
    assert os.readlink(os.path.join(layer1, "lib")) == outside
    assert os.path.isdir(os.path.join(layer2, "lib")) and not os.path.islink(os.path.join(layer2, "lib"))
    with open(os.path.join(layer2, "lib", "evil"), "rb") as handle:
        assert handle.read() == b"pwned"
    assert not os.path.lexists(os.path.join(outside, "evil"))
    assert os.path.isfile(os.path.join(outside, "secret"))
    assert hostile.snapshot(sandbox, os.path.join(sandbox, "dest")) == before

    # The merged view, if this kernel lets us mount overlayfs: layer 2's real
    # directory hides layer 1's symlink, so the write stays in the image.
    merged = os.path.join(sandbox, "dest", "merged")
    os.mkdir(merged)
    if shutil.which("mount") is None:
        return
    proc = subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                           "ro,lowerdir=%s:%s" % (layer2, layer1), merged],
                          capture_output=True)
    if proc.returncode != 0:
        return
    try:
        assert os.path.isdir(os.path.join(merged, "lib")) and not os.path.islink(os.path.join(merged, "lib"))
        names = sorted(os.listdir(os.path.join(merged, "lib")))
        assert "evil" in names and set(names) <= {"evil", "secret"}
        if "secret" in names:
            # overlayfs lists a whiteout of a non-merged directory, but it never
            # resolves to anything, least of all the sentinel's secret.
            try:
                st = os.lstat(os.path.join(merged, "lib", "secret"))
            except FileNotFoundError:
                pass
            else:
                assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    finally:
        subprocess.run(["umount", merged], check=True)
    assert hostile.snapshot(sandbox, os.path.join(sandbox, "dest")) == before


@ROOT_ONLY
def test_whiteouts_hide_lower_layers_in_overlay(sandbox):
    """The overlay-native whiteouts written by the unpacker behave as the spec says."""
    dest = os.path.join(sandbox, "dest")
    lower, upper, merged = (os.path.join(dest, n) for n in ("l1", "l2", "merged"))
    for path in (lower, upper, merged):
        os.mkdir(path, 0o700)
    unpack_layer(io.BytesIO(hostile.tar(
        hostile.d("a"), hostile.f("a/keep", b"k"), hostile.f("a/gone", b"g"),
        hostile.d("b"), hostile.f("b/old", b"o"), hostile.f("c", b"c"))), lower)
    unpack_layer(io.BytesIO(hostile.tar(
        hostile.f("a/.wh.gone"), hostile.d("b"), hostile.f("b/.wh..wh..opq"),
        hostile.f("b/new", b"n"), hostile.f(".wh.c"))), upper)
    proc = subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                           "ro,lowerdir=%s:%s" % (upper, lower), merged], capture_output=True)
    if proc.returncode != 0:
        pytest.skip("cannot mount overlayfs here: %s" % proc.stderr.decode(errors="replace"))
    try:
        assert sorted(os.listdir(merged)) == ["a", "b"]
        assert sorted(os.listdir(os.path.join(merged, "a"))) == ["keep"]
        assert sorted(os.listdir(os.path.join(merged, "b"))) == ["new"]
    finally:
        subprocess.run(["umount", merged], check=True)
