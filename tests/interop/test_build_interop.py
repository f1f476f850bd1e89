# -*- coding: utf-8 -*-
"""What oci_build makes is read by the peers: ``skopeo inspect oci:STORE:NAME`` sees the image
as we describe it, and ``umoci unpack`` of it gives the same file tree as our own merged view of
its unpacked layers (whiteouts of RUN deletions applied, owners, modes, links, mtimes)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from harness import images as I
from harness import treediff as T
from harness.engine import service

from ansible_collections.undock.oci.plugins.module_utils.build.service import build_image
from ansible_collections.undock.oci.plugins.module_utils.storage.layers import LayerStore

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="builds need root (overlay mounts, runc)")

SKOPEO = I.Skopeo()
EPOCH = 1700000000


def IGNORE(path, field, ours, theirs):  # noqa: N802 - as in test_unpack_interop: / has no mtime of the image
    return path == "/" and field == "mtime"


@pytest.fixture(scope="module")
def busybox(session_registry):
    return I.push_layers(session_registry, "build-interop/busybox", "1", [I.tar_layer(I.busybox_entries())])


def test_skopeo_and_umoci_read_what_we_build(tmp_path, registry, busybox):
    ctx = tmp_path / "ctx"
    (ctx / "tree" / "sub").mkdir(parents=True)
    (ctx / "tree" / "sub" / "f").write_text("deep\n")
    os.symlink("sub/f", str(ctx / "tree" / "link"))
    svc = service(tmp_path, registry)
    outcome = build_image(svc, "localhost/interop/built:1", [
        {"from": busybox.ref},
        {"run": "rm -rf /etc/passwd /tmp && mkdir -p /srv/data && echo x > /srv/data/x && chmod 4755 /srv/data/x"},
        {"commit": {}},
        {"copy": {"src": "tree", "dest": "/srv/tree", "chown": "1000:1000"}},
        {"run": "rm /srv/data/x && touch /srv/data/y"},
        {"config": {"cmd": ["sh"], "labels": {"k": "v"}}},
    ], context=str(ctx), epoch=EPOCH)
    image = outcome.resolved

    proc = SKOPEO.run("inspect", "oci:%s:localhost/interop/built:1" % svc.storage_root)
    inspected = json.loads(proc.stdout)
    assert inspected["Digest"] == image.manifest.digest
    assert inspected["Labels"] == {"k": "v"}
    assert inspected["Layers"] == [d["digest"] for d in image.manifest.layers]
    assert inspected["Created"].startswith("2023-11-14T22:13:20")

    layout, bundle = str(tmp_path / "layout"), str(tmp_path / "bundle")
    SKOPEO.copy("oci:%s:localhost/interop/built:1" % svc.storage_root, "oci:%s:x" % layout)
    proc = subprocess.run(["umoci", "unpack", "--image", layout + ":x", bundle], capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    theirs = T.snapshot(os.path.join(bundle, "rootfs"), mtimes=True)
    layers = LayerStore(svc.store())
    ours = T.merged_snapshot([layers.diff_dir(d) for d in image.config["rootfs"]["diff_ids"]], mtimes=True)
    assert T.diff(ours, theirs, ignore=IGNORE, names=("ours", "umoci")) == []
    assert "/etc/passwd" not in theirs and "/tmp" not in theirs and "/srv/data/x" not in theirs
    assert theirs["/srv/tree/sub/f"].uid == 1000 and theirs["/srv/tree/link"].target == "sub/f"
