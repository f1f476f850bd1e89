"""oci_scan through ansible-playbook on an image from a real registry: package inventory,
setuid, world-writable and secret files, the command scanner on the host, check mode, and
no mount left behind, also when the command fails."""

from __future__ import annotations

import os
import subprocess

import pytest

from harness import images as I
from harness.ansible import run_tasks
from harness.engine import registries_conf

from ansible_collections.undock.oci.plugins.module_utils.storage import mounts as M

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")

DPKG_STATUS = b"""Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u4

Package: old-tool
Status: deinstall ok config-files
Architecture: amd64
Version: 0.9

Package: openssl
Status: install ok installed
Architecture: amd64
Version: 3.0.11-1~deb12u2
"""

KEY = b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg\n-----END EC PRIVATE KEY-----\n"


def mounts_below(path):
    path = os.path.realpath(str(path))
    return [e["point"] for e in M.mountinfo() if e["point"].startswith(path + "/")]


@pytest.fixture
def scan_image(tmp_path, registry):
    host_secret = tmp_path / "host" / "id_rsa"
    host_secret.parent.mkdir()
    host_secret.write_bytes(b"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n")
    layer = [I.Entry("var/", "dir", mode=0o755), I.Entry("var/lib/", "dir", mode=0o755),
             I.Entry("var/lib/dpkg/", "dir", mode=0o755), I.Entry("var/lib/dpkg/status", data=DPKG_STATUS),
             I.Entry("var/tmp/", "dir", mode=0o1777),
             I.Entry("usr/", "dir", mode=0o755), I.Entry("usr/bin/", "dir", mode=0o755),
             I.Entry("usr/bin/su", data=b"\x7fELF not really", mode=0o4755),
             I.Entry("usr/bin/crontab", data=b"\x7fELF", mode=0o2755, gid=42),
             I.Entry("srv/", "dir", mode=0o777),
             I.Entry("etc/", "dir", mode=0o755), I.Entry("etc/app/", "dir", mode=0o755),
             I.Entry("etc/app/tls.key", data=KEY, mode=0o600),
             # hostile: symlinks to the host's files and directories must never be followed
             I.Entry("etc/app/host.key", "symlink", target=str(host_secret)),
             I.Entry("hostroot", "symlink", target="/"),
             I.Entry("lib", "symlink", target=str(host_secret.parent))]
    pushed = I.push_layers(registry, "scan/app", "1", [I.tar_layer(I.busybox_entries()), I.tar_layer(layer)],
                           workdir=str(tmp_path))
    common = {"storage_root": str(tmp_path / "store"), "run_root": str(tmp_path / "run"),
              "registries_conf": registries_conf(str(tmp_path / "conf"), registry.host)}
    return pushed, common


def test_oci_scan_module(tmp_path, scan_image):
    pushed, common = scan_image
    scan = dict(common, name=pushed.ref)
    pull = {k: v for k, v in common.items() if k != "run_root"}
    probe = "sh -c 'grep \" $0 \" /proc/self/mountinfo; test -x \"$ROOTFS/bin/busybox\"'"
    try:
        missing, pulled, first, checked, command, failing, bad, broken, negative = run_tasks([
            ("undock.oci.oci_scan", scan, {}),
            ("undock.oci.oci_image", dict(pull, name=pushed.ref), {}),
            ("undock.oci.oci_scan", scan, {}),
            ("undock.oci.oci_scan", scan, {"check_mode": True}),
            ("undock.oci.oci_scan", dict(scan, scanners=[], command=probe), {}),
            ("undock.oci.oci_scan", dict(scan, scanners=["setuid"], command="sh -c 'echo failing >&2; exit 3'"), {}),
            ("undock.oci.oci_scan", dict(scan, scanners=["command"]), {}),
            ("undock.oci.oci_scan", dict(scan, command="/nonexistent/scanner --all"), {}),
            ("undock.oci.oci_scan", dict(scan, scanners=[], command="true", command_timeout=-5), {}),
        ])
    finally:
        leaked = mounts_below(tmp_path)
        for point in leaked:
            subprocess.run(["umount", "-l", point], check=False)
    assert not leaked, leaked

    assert missing["failed"] and "not in the store" in missing["msg"] and "oci_image" in missing["msg"]

    assert not first.get("failed") and first["changed"] is False, first
    # the same image record as oci_image returns
    assert first["image"] == pulled["image"] and first["image"]["digest"] == pushed.digest, first
    assert negative.get("failed") and "command_timeout must be a positive number" in negative["msg"], negative
    assert "report" not in negative
    assert first["mount"]["kind"] == "overlay"
    results = first["report"]
    assert set(results) == {"packages", "setuid", "world_writable", "secrets"}
    assert results["packages"] == [
        {"name": "libc6", "version": "2.36-9+deb12u4", "arch": "amd64", "source": "dpkg"},
        {"name": "openssl", "version": "3.0.11-1~deb12u2", "arch": "amd64", "source": "dpkg"},
    ]
    assert results["setuid"] == [
        {"path": "/usr/bin/crontab", "mode": "2755", "uid": 0, "gid": 42, "setuid": False, "setgid": True},
        {"path": "/usr/bin/su", "mode": "4755", "uid": 0, "gid": 0, "setuid": True, "setgid": False},
    ]
    assert results["world_writable"] == [{"path": "/srv", "mode": "0777", "type": "directory"}]
    assert results["secrets"] == [{"path": "/etc/app/tls.key", "kind": "private_key", "line": 1}]
    assert "MHcCAQEEIBkg" not in str(first)

    assert not checked.get("failed") and checked["changed"] is False
    assert checked["report"] == results

    assert not command.get("failed"), command
    assert set(command["report"]) == {"command"}
    mountinfo = command["report"]["command"]["stdout"]
    assert " overlay " in mountinfo and "ro,nosuid,nodev" in mountinfo, mountinfo
    rootfs = command["report"]["command"]["argv"][-1]
    assert rootfs.startswith(str(tmp_path / "run" / "scan") + "/")

    assert failing["failed"] and "exited with 3" in failing["msg"], failing
    assert failing["report"]["command"]["stderr"] == "failing\n"
    assert failing["report"]["setuid"] == results["setuid"]

    assert bad["failed"] and "command" in bad["msg"]
    assert broken["failed"] and "/nonexistent/scanner could not run" in broken["msg"], broken

    # every scan unmounted its rootfs, removed its directory and its record
    assert os.listdir(str(tmp_path / "run" / "scan")) == []
    assert os.listdir(str(tmp_path / "run" / "mounts")) == []
