# -*- coding: utf-8 -*-
"""System containers: reading an image's /exports, as a hostile rootfs may hold it."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.undock.oci.plugins.module_utils.system import exports as E
from ansible_collections.undock.oci.plugins.module_utils.system.errors import SystemContainerError

pytestmark = pytest.mark.unit


def make_rootfs(tmp_path):
    root = tmp_path / "rootfs"
    (root / "exports/hostfs/etc/app").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "etc/passwd").write_text("root:x:0:0::/:/bin/sh\n")
    (root / "exports/service.template").write_text("[Service]\nExecStart=$EXEC_START\n")
    (root / "exports/manifest.json").write_text(json.dumps({"defaultValues": {"PORT": 80},
                                                            "renameFiles": {"/etc/app": "/etc/$NAME"}}))
    (root / "exports/hostfs/etc/app/app.conf").write_text("x=1\n")
    os.chmod(root / "exports/hostfs/etc/app/app.conf", 0o640)
    return root


def test_reads_templates_manifest_and_hostfs(tmp_path):
    root = make_rootfs(tmp_path)
    found = E.read_exports(str(root))
    assert found.present and found.templates == {"service": "[Service]\nExecStart=$EXEC_START\n"}
    assert found.default_values == {"PORT": "80"} and found.rename_files == {"/etc/app": "/etc/$NAME"}
    assert not found.no_container_service
    assert [(e.path, e.kind, oct(e.mode)) for e in found.hostfs] == [
        ("/etc", "dir", "0o755"), ("/etc/app", "dir", "0o755"), ("/etc/app/app.conf", "file", "0o640")]


def test_no_exports(tmp_path):
    (tmp_path / "rootfs").mkdir()
    assert not E.read_exports(str(tmp_path / "rootfs")).present


def test_links_stay_inside_the_rootfs(tmp_path):
    root = make_rootfs(tmp_path)
    os.unlink(root / "exports/service.template")
    # absolute and climbing links: both resolved in the rootfs, so the image's /etc/passwd is read
    os.symlink("/../../../../../etc/passwd", root / "exports/service.template")
    os.symlink("../../../../../../../etc/passwd", root / "exports/tmpfiles.template")
    os.symlink("/etc", root / "exports/hostfs/etc/app/hostetc")
    found = E.read_exports(str(root))
    assert found.templates["service"] == "root:x:0:0::/:/bin/sh\n"
    assert found.templates["tmpfiles"] == "root:x:0:0::/:/bin/sh\n"
    assert "/etc/app/hostetc" not in [e.path for e in found.hostfs]  # a link in hostfs is never copied
    assert any("hostfs/etc/app/hostetc" in w for w in found.warnings)


def test_bounded_and_checked_reads(tmp_path):
    root = make_rootfs(tmp_path)
    (root / "exports/socket.template").write_bytes(b"x" * (E.MAX_TEMPLATE + 1))
    with pytest.raises(SystemContainerError, match="/exports/socket.template of the image is larger than"):
        E.read_exports(str(root))
    (root / "exports/socket.template").write_bytes(b"[Socket]\n\xff\n")
    with pytest.raises(SystemContainerError, match="/exports/socket.template of the image is not UTF-8"):
        E.read_exports(str(root))
    os.unlink(root / "exports/socket.template")
    os.mkfifo(root / "exports/socket.template")  # never opened, so never a hang
    with pytest.raises(SystemContainerError, match="cannot read /exports/socket.template"):
        E.read_exports(str(root))
