"""The built-in scanners of oci_scan on hand-made trees: package databases, setuid and
world-writable files, secrets, the command scanner, and symlinks that must not lead out."""

from __future__ import annotations

import os

import pytest

from ansible_collections.undock.oci.plugins.module_utils.scan import scanners as S

DPKG_STATUS = """\
Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Architecture: amd64
Version: 12.4+deb12u5
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy.
 .
 More text.

Package: removed-but-configured
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 2.36-9+deb12u4
Depends: libgcc-s1

Package: half
Status: install ok half-configured
Version: 0.1
"""

APK_INSTALLED = """\
C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
S:383152
T:the musl c library

C:Q1def=
P:busybox
V:1.36.1-r5
A:x86_64
"""

PRIVATE_KEY = b"""-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
-----END OPENSSH PRIVATE KEY-----
"""


def write(root, rel, data=b"", mode=0o644):
    path = os.path.join(str(root), rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)
    return path


@pytest.fixture
def host(tmp_path):
    """Files outside the rootfs that an escaping symlink would reach."""
    outside = tmp_path / "host"
    write(outside, "status", "Package: hostpkg\nStatus: install ok installed\nVersion: 6.6.6\n")
    write(outside, "keys/id_rsa", b"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n")
    write(outside, "installed", "P:hostapk\nV:1\nA:x86_64\n")
    return outside


def test_dpkg_status_lists_only_installed_packages():
    packages = S.parse_dpkg_status(DPKG_STATUS)
    assert packages == [
        {"name": "base-files", "version": "12.4+deb12u5", "arch": "amd64", "source": "dpkg"},
        {"name": "libc6", "version": "2.36-9+deb12u4", "arch": "amd64", "source": "dpkg"},
    ]


def test_apk_installed_database():
    assert S.parse_apk_installed(APK_INSTALLED) == [
        {"name": "musl", "version": "1.2.4-r2", "arch": "x86_64", "source": "apk"},
        {"name": "busybox", "version": "1.36.1-r5", "arch": "x86_64", "source": "apk"},
    ]


def test_packages_from_dpkg_distroless_status_d_and_apk(tmp_path):
    root = tmp_path / "rootfs"
    write(root, "var/lib/dpkg/status", DPKG_STATUS)
    write(root, "var/lib/dpkg/status.d/tzdata", "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n")
    write(root, "var/lib/dpkg/status.d/tzdata.md5sums", "0123 usr/share/zoneinfo/UTC\n")
    write(root, "lib/apk/db/installed", APK_INSTALLED)
    with S.RootFS(str(root)) as rootfs:
        packages = S.scan_packages(rootfs, rpm="/nonexistent/rpm")
    assert [(p["source"], p["name"]) for p in packages] == [
        ("apk", "busybox"), ("apk", "musl"), ("dpkg", "base-files"), ("dpkg", "libc6"), ("dpkg", "tzdata")]


def test_rpm_database_is_read_with_rpm_root(tmp_path):
    root = tmp_path / "rootfs"
    write(root, "var/lib/rpm/rpmdb.sqlite", b"not really")
    log = tmp_path / "rpm-args"
    fake = write(tmp_path, "bin/rpm", "#!/bin/sh\necho \"$@\" > %s\n"
                 "printf 'bash\\t5.1.8-6.el9\\tx86_64\\ngpg-pubkey\\t1-2\\t(none)\\nopenssl\\t1:3.0.7-27.el9\\tx86_64\\n'\n"
                 % log, 0o755)
    with S.RootFS(str(root)) as rootfs:
        packages = S.scan_packages(rootfs, rpm=fake)
    assert packages == [{"name": "bash", "version": "5.1.8-6.el9", "arch": "x86_64", "source": "rpm"},
                        {"name": "openssl", "version": "1:3.0.7-27.el9", "arch": "x86_64", "source": "rpm"}]
    args = log.read_text().split()
    assert args[:4] == ["--root", str(root), "--dbpath", "/var/lib/rpm"] and "-qa" in args


def test_no_rpm_database_means_no_rpm_run(tmp_path):
    root = tmp_path / "rootfs"
    root.mkdir()
    with S.RootFS(str(root)) as rootfs:
        assert S.rpm_packages(rootfs, rpm="/nonexistent/rpm") == []


def test_setuid_and_world_writable(tmp_path):
    root = tmp_path / "rootfs"
    write(root, "usr/bin/passwd", b"\x7fELF", 0o4755)
    write(root, "usr/bin/wall", b"\x7fELF", 0o2755)
    write(root, "usr/bin/plain", b"\x7fELF", 0o755)
    write(root, "etc/shadow-", b"x", 0o666)
    os.makedirs(root / "tmp")
    os.chmod(root / "tmp", 0o1777)
    os.makedirs(root / "var/drop")
    os.chmod(root / "var/drop", 0o777)
    os.symlink("passwd", root / "usr/bin/link")  # 0777 symlinks are not world-writable files
    os.mkfifo(root / "var/fifo")
    os.chmod(root / "var/fifo", 0o666)
    results = S.scan(str(root), ["setuid", "world_writable"])
    assert results["setuid"] == [
        {"path": "/usr/bin/passwd", "mode": "4755", "uid": os.getuid(), "gid": os.getgid(), "setuid": True,
         "setgid": False},
        {"path": "/usr/bin/wall", "mode": "2755", "uid": os.getuid(), "gid": os.getgid(), "setuid": False,
         "setgid": True},
    ]
    assert results["world_writable"] == [
        {"path": "/etc/shadow-", "mode": "0666", "type": "file"},
        {"path": "/var/drop", "mode": "0777", "type": "directory"},
        {"path": "/var/fifo", "mode": "0666", "type": "fifo"},
    ]
    assert "errors" not in results and set(results) == {"setuid", "world_writable"}


def test_secrets_are_found_and_never_returned(tmp_path):
    root = tmp_path / "rootfs"
    write(root, "root/.ssh/id_ed25519", PRIVATE_KEY, 0o600)
    write(root, "etc/ssl/private/server.key", b"-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----\n")
    write(root, "etc/ssl/certs/ca.pem", b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    token = "ghp_" + "A1b2C3d4E5" * 4
    write(root, "app/config.env", "DEBUG=1\nGITHUB_TOKEN=%s\nAWS_KEY=AKIAQWERTYUIOPASDFGH\n" % token)
    write(root, "usr/share/doc/aws/example.txt", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n")
    write(root, "root/.docker/config.json", '{"auths": {"r.example": {"auth": "dXNlcjpwYXNz"}}}')
    write(root, "home/u/.netrc", "machine example.com login u password hunter2\n")
    write(root, "srv/config.json", '{"auth": "bm90IGEgZG9ja2VyIGZpbGU="}')  # not a docker config
    results = S.scan(str(root), ["secrets"])
    assert results["secrets"] == [
        {"path": "/app/config.env", "kind": "aws_access_key", "line": 3},
        {"path": "/app/config.env", "kind": "github_token", "line": 2},
        {"path": "/etc/ssl/private/server.key", "kind": "private_key", "line": 1},
        {"path": "/home/u/.netrc", "kind": "netrc_password", "line": 1},
        {"path": "/root/.docker/config.json", "kind": "docker_auth", "line": 1},
        {"path": "/root/.ssh/id_ed25519", "kind": "private_key", "line": 1},
    ]
    flat = repr(results)
    assert token not in flat and "hunter2" not in flat and "dXNlcjpwYXNz" not in flat


def test_escaping_symlinks_are_never_followed(tmp_path, host):
    root = tmp_path / "rootfs"
    os.makedirs(root / "var/lib/dpkg")
    os.makedirs(root / "lib/apk/db")
    os.symlink(str(host / "status"), root / "var/lib/dpkg/status")           # absolute: means ROOTFS/<host path>
    os.symlink("../../../../../../../../" + str(host / "installed").lstrip("/"), root / "lib/apk/db/installed")
    os.symlink(str(host / "keys"), root / "keys")                              # a directory outside
    os.symlink(str(host / "keys/id_rsa"), root / "id_rsa")                     # a file outside
    os.symlink("/", root / "hostroot")
    write(root, "etc/os-release", "ID=test\n")
    results = S.scan(str(root), ["packages", "setuid", "world_writable", "secrets"], rpm="/nonexistent/rpm")
    assert results["packages"] == []
    assert results["secrets"] == []
    assert results["setuid"] == [] and results["world_writable"] == []
    with S.RootFS(str(root)) as rootfs:
        assert rootfs.read("var/lib/dpkg/status") is None
        assert rootfs.read("keys/id_rsa") is None
        assert rootfs.read("hostroot/" + str(host / "status").lstrip("/")) is None
        assert rootfs.read("hostroot/etc/os-release") == b"ID=test\n"  # "/" is the rootfs


def test_symlinks_inside_the_rootfs_resolve_like_a_chroot(tmp_path):
    root = tmp_path / "rootfs"
    write(root, "opt/dpkg/status", "Package: inside\nStatus: install ok installed\nVersion: 1\n")
    os.makedirs(root / "var/lib")
    os.symlink("/opt/dpkg", root / "var/lib/dpkg")                    # absolute, inside
    write(root, "usr/lib/apk/db/installed", "P:merged\nV:2\nA:x86_64\n")
    os.symlink("usr/lib", root / "lib")                                # merged-usr style, relative
    with S.RootFS(str(root)) as rootfs:
        names = [p["name"] for p in S.scan_packages(rootfs, rpm="/nonexistent/rpm")]
    assert names == ["merged", "inside"]


def test_symlink_loops_and_special_files_do_not_hang(tmp_path):
    root = tmp_path / "rootfs"
    os.makedirs(root / "var/lib")
    os.symlink("loop", root / "var/lib/loop")
    os.symlink("loop/status", root / "var/lib/dpkg")
    os.mkfifo(root / "var/lib/fifo")
    os.makedirs(root / "lib/apk/db")
    os.mkfifo(root / "lib/apk/db/installed")  # reading a fifo would block forever
    results = S.scan(str(root), ["packages", "secrets"], rpm="/nonexistent/rpm")
    assert results["packages"] == [] and results["secrets"] == []


def test_command_scanner_gets_the_rootfs(tmp_path):
    root = tmp_path / "rootfs"
    write(root, "etc/hostname", "scanned\n")
    result = S.run_command(str(root), "sh -c 'cat \"$0/etc/hostname\"; test \"$ROOTFS\" = \"$0\" || exit 9'")
    assert result["rc"] == 0, result
    assert result["stdout"] == "scanned\n"
    assert result["argv"][-1] == str(root)
    failed = S.run_command(str(root), ["sh", "-c", "echo oops >&2; exit 3"])
    assert failed["rc"] == 3 and failed["stderr"] == "oops\n"
    with pytest.raises(S.ScanError, match="could not run"):
        S.run_command(str(root), "/nonexistent/scanner --flag")


def test_scan_checks_its_arguments(tmp_path):
    with pytest.raises(S.ScanError, match="unknown scanner"):
        S.scan(str(tmp_path), ["packages", "viruses"])
    with pytest.raises(S.ScanError, match="needs a command"):
        S.scan(str(tmp_path), ["command"])

