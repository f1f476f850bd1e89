# -*- coding: utf-8 -*-
"""Hostile build contexts (the CVE-2026-44517 class: symlinks in the context pointing out of
it): nothing outside the context is ever read, whatever links the context holds, and a
bind mount that makes a directory contain itself is refused instead of walked forever.

``host`` beside the context holds ``secret`` ("HOST"). The context holds decoys at the
in-context place each hostile link really names ("INSIDE"), so every case tells "resolved
inside the context" from "escaped" by the bytes that were read, not only by an error. The
resolution is also checked against ``storage.rootfs.resolve_in_root``: a COPY source
resolves in the snapshot exactly as a path resolves in a rootfs.
"""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from ansible_collections.undock.oci.plugins.module_utils.build.context.digest import content_digest
from ansible_collections.undock.oci.plugins.module_utils.build.context.errors import ContextError
from ansible_collections.undock.oci.plugins.module_utils.build.context.snapshot import take_snapshot
from ansible_collections.undock.oci.plugins.module_utils.build.context.sources import select_sources
from ansible_collections.undock.oci.plugins.module_utils.storage.rootfs import resolve_in_root

INSIDE = hashlib.sha256(b"INSIDE").hexdigest()


@pytest.fixture
def trees(tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_bytes(b"HOST")
    ctx = tmp_path / "ctx"
    decoy = ctx / str(host).lstrip("/")
    decoy.mkdir(parents=True)
    (decoy / "secret").write_bytes(b"INSIDE")
    (ctx / "host").mkdir()
    (ctx / "host" / "secret").write_bytes(b"INSIDE")
    links = {
        "abs-file": str(host / "secret"),
        "abs-dir": str(host),
        "dotdot-file": "../host/secret",
        "dotdot-dir": "../host",
        "deep-dotdot": "../../../../../../../../.." + str(host / "secret"),
        "chain-1": "chain-2",
        "chain-2": "sub/chain-3",
        "sub/chain-3": "../../host/secret",
        "proc-root": "/proc/self/root" + str(host / "secret"),
    }
    (ctx / "sub").mkdir()
    for name, target in links.items():
        os.symlink(target, str(ctx / name))
    return host, ctx, links


def test_hostile_links_resolve_inside_the_context(trees):
    host, ctx, links = trees
    snap = take_snapshot(str(ctx))
    for name in ("abs-file", "dotdot-file", "deep-dotdot", "chain-1", "abs-dir/secret", "dotdot-dir/secret"):
        (item,) = select_sources(snap, [name])
        assert snap.file_sha256(item.entry) == INSIDE, name
        assert os.path.join(str(ctx), item.path) == resolve_in_root(str(ctx), name), name
    with pytest.raises(ContextError, match="symlink to nothing"):
        select_sources(snap, ["proc-root"])  # /proc/self/root inside the context is nothing
    # COPY . copies each link as a link: its target as text, never what it names
    (item,) = select_sources(snap, ["."])
    members = dict(item.members)
    for name, target in links.items():
        assert members[name].kind == "symlink" and members[name].target == target
    digest_before = content_digest(snap, [item])
    (host / "secret").write_bytes(b"HOST, changed")
    snap = take_snapshot(str(ctx))
    assert content_digest(snap, select_sources(snap, ["."])) == digest_before  # host content is not an input


def test_a_bind_mount_loop_is_refused(trees):
    host, ctx, links = trees
    loop = ctx / "sub" / "loop"
    loop.mkdir()
    subprocess.run(["mount", "--bind", str(ctx), str(loop)], check=True, timeout=30)
    try:
        with pytest.raises(ContextError, match="contains itself"):
            take_snapshot(str(ctx))
    finally:
        subprocess.run(["umount", str(loop)], check=True, timeout=30)
