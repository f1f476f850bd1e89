# -*- coding: utf-8 -*-
"""COPY --link / ADD --link on real parts: the linked layer holds the copied files alone (with
their destination's parent directories, made without looking at the image), a link of the image
at the destination is replaced rather than followed, and the layer's cache entry does not depend
on the layers below it: a changed RUN before it keeps its blob."""

from __future__ import annotations

import gzip
import io
import os
import tarfile

import pytest

from test_dockerfile_build import build, image_files, svc, busybox, ctx, NAME  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="builds need root (overlay mounts, runc)")


def layer_members(svc, digest):
    data = gzip.decompress(svc.store().read_blob(digest))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name.rstrip("/"): (m.type, m.mode, m.uid, m.gid) for m in tar.getmembers()}


def layers_of(svc, name=NAME):
    return [d["digest"] for d in svc.local_image(name).manifest.layers]


BASE_LAYERS = 1  # the busybox fixture's

LINKED = """FROM {base}
RUN mkdir /real && ln -s real /data && echo {marker} > /real/keep
COPY --link --chown=7:8 app.txt /data/deep/app.txt
ADD --link site /site/
RUN test -d /data && ! test -L /data && cat /data/deep/app.txt > /seen && ls /real > /real-listing
"""


def test_linked_layer_holds_the_copied_files_alone(svc, busybox, ctx):
    build(svc, LINKED.format(base=busybox.ref, marker="one"), ctx)
    base = BASE_LAYERS
    digests = layers_of(svc)
    assert len(digests) == base + 4
    copied = layer_members(svc, digests[base + 1])
    # the parents are directories of the layer itself (made for the chown, as a plain COPY makes
    # them), whatever the image has there: /data is a link to /real in the image
    assert copied == {"data": (tarfile.DIRTYPE, 0o755, 7, 8), "data/deep": (tarfile.DIRTYPE, 0o755, 7, 8),
                      "data/deep/app.txt": (tarfile.REGTYPE, 0o644, 7, 8)}
    assert set(layer_members(svc, digests[base + 2])) == {"site", "site/index.html"}
    files = image_files(svc)
    assert files["data"][0] == tarfile.DIRTYPE and files["data/deep/app.txt"][4] == b"app v1\n"
    assert files["real/keep"][4] == b"one\n" and "real/deep" not in files
    # what the next RUN saw through overlay: /data a directory, the link's target untouched
    assert files["seen"][4] == b"app v1\n" and files["real-listing"][4] == b"keep\n"


def test_linked_layer_is_reused_when_a_layer_below_changes(svc, busybox, ctx):
    base = BASE_LAYERS
    first = build(svc, LINKED.format(base=busybox.ref, marker="one"), ctx, epoch=None)
    before = layers_of(svc)
    assert not any(a.startswith("linked, cached:") for a in first.actions)
    again = build(svc, LINKED.format(base=busybox.ref, marker="two"), ctx, epoch=None)
    after = layers_of(svc)
    assert after[base] != before[base]                      # the RUN changed
    assert after[base + 1:base + 3] == before[base + 1:base + 3]  # both linked layers: the same blobs
    assert sum(1 for a in again.actions if a.startswith("linked, cached:")) == 2, again.actions
    assert not any(a.startswith("cached:") for a in again.actions)  # no full-chain hit: the parent changed
    assert image_files(svc)["seen"][4] == b"app v1\n"
    # changed content is a new linked layer
    (ctx / "app.txt").write_text("app v2\n")
    third = build(svc, LINKED.format(base=busybox.ref, marker="two"), ctx, epoch=None)
    assert layers_of(svc)[base + 1] != after[base + 1]
    assert sum(1 for a in third.actions if a.startswith("linked, cached:")) == 1, third.actions
    assert image_files(svc)["seen"][4] == b"app v2\n"


def test_plain_copy_is_not_taken_for_a_linked_one(svc, busybox, ctx):
    text = "".join(LINKED.format(base=busybox.ref, marker="one").splitlines(True)[:-1])  # no RUN checking /data
    build(svc, text, ctx)
    build(svc, text.replace("COPY --link", "COPY"), ctx)
    files = image_files(svc)
    assert files["data"][0] == tarfile.SYMTYPE and files["real/deep/app.txt"][4] == b"app v1\n"


def test_link_without_layers_merges_the_same_way(svc, busybox, ctx):
    build(svc, LINKED.format(base=busybox.ref, marker="one"), ctx, layers=False)
    assert len(layers_of(svc)) == 2
    files = image_files(svc)
    assert files["data"][0] == tarfile.DIRTYPE and files["data/deep/app.txt"][2:4] == (7, 8)
    assert files["seen"][4] == b"app v1\n" and files["real-listing"][4] == b"keep\n"


@pytest.mark.parametrize("line, message", [
    ("COPY --parents app.txt /x/", "COPY: --parents and --exclude .* are not supported"),
    ("COPY --exclude=*.md . /x/", "COPY: --parents and --exclude .* are not supported"),
    ("ADD --keep-git-dir=true app.txt /x", "ADD: --keep-git-dir and --unpack are not supported"),
    ("RUN --mount=type=ssh true", "RUN: .*ssh.* is not supported"),
])
def test_what_is_left_out_says_so(svc, busybox, ctx, line, message):  # noqa: F811
    from ansible_collections.undock.oci.plugins.module_utils.build.errors import BuildError
    with pytest.raises(BuildError, match="line 2: " + message):
        build(svc, "FROM {base}\n{line}\n".format(base=busybox.ref, line=line), ctx)
    assert svc.local_image(NAME) is None
