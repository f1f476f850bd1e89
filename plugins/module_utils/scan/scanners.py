# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Built-in scanners over an image rootfs, run on the host (nothing from the image runs).

The rootfs is hostile input. Every access goes through ``RootFS``: directory descriptors
opened with ``O_NOFOLLOW`` from a descriptor of the root, ``lstat`` only, and symlinks
either ignored (the walk) or resolved *inside* the root by ``storage.rootfs``, the way a
chroot would see them (absolute targets restart at the rootfs, ``..`` stops at it), so
nothing outside is ever read. Only regular files are opened, with ``O_NOFOLLOW|O_NONBLOCK``; reads are bounded.

Scanners and their results (lists are sorted by path or name):

``packages``
    ``[{name, version, arch, source}]`` from dpkg's ``var/lib/dpkg/status`` (installed
    packages) and ``var/lib/dpkg/status.d/*`` (distroless), apk's ``lib/apk/db/installed``
    and, when the host has ``rpm``, ``rpm --root ROOTFS -qa`` on the image's rpm database.
``setuid``
    ``[{path, mode, uid, gid, setuid, setgid}]``: regular files with the setuid or setgid bit.
``world_writable``
    ``[{path, mode, type}]``: anything but symlinks writable by others, except directories
    with the sticky bit (such as ``/tmp``).
``secrets``
    ``[{path, kind, line}]``: private keys (PEM, OpenSSH, PGP, PuTTY) and files that look
    like tokens or credentials (AWS, GitHub, GitLab, Slack, Google, Stripe, npm tokens,
    Docker ``auth`` entries, ``.netrc``, ``.git-credentials``, ``.npmrc``, ``.pypirc``).
    The secret itself is never returned. The first ``MAX_SECRET_READ`` bytes of each file
    are searched.
``command``
    ``{rc, stdout, stderr, argv}``: a host command run with the rootfs path as last
    argument and in the environment as ``ROOTFS``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess

from ..common.errors import UndockError
from ..common.fileutil import read_bounded
from ..storage.rootfs import open_in_root, read_file_in_root

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence, Union

SCANNERS = ("packages", "setuid", "world_writable", "secrets", "command")
DEFAULT_SCANNERS = ("packages", "setuid", "world_writable", "secrets")
MAX_SECRET_READ = 1024 * 1024
MAX_DB_SIZE = 256 * 1024 * 1024

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class ScanError(UndockError):
    """A scanner could not run."""


# ---------------------------------------------------------------------------
# safe access to the rootfs
# ---------------------------------------------------------------------------
class RootFS:
    """Read-only access to a directory tree that may be hostile."""

    def __init__(self, path: str):
        self.path = os.path.realpath(path)
        self.fd = os.open(self.path, _O_DIR)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "RootFS":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def open(self, rel: str, directory: bool = False) -> int:
        """A descriptor of ``rel`` resolved as if the rootfs were ``/`` (``storage.rootfs``):
        symlinks are followed only inside it. Only directories and regular files are
        opened. Raises OSError."""
        if directory:
            return open_in_root(self.fd, rel, os.O_RDONLY | os.O_DIRECTORY)
        fd = open_in_root(self.fd, rel, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(21, "is a directory", rel)
            raise OSError(22, "not a regular file", rel)
        return fd

    def read(self, rel: str, limit: int = MAX_DB_SIZE) -> Optional[bytes]:
        """The content of the regular file ``rel`` (at most ``limit`` bytes), None if absent."""
        try:
            return read_file_in_root(self.fd, rel, limit)
        except OSError:
            return None

    def listdir(self, rel: str) -> List[str]:
        try:
            fd = self.open(rel, directory=True)
        except OSError:
            return []
        try:
            return sorted(os.listdir(fd))
        finally:
            os.close(fd)

    def exists(self, rel: str, directory: bool = False) -> bool:
        try:
            os.close(self.open(rel, directory=directory))
            return True
        except OSError:
            return False

    def _open_dir_strict(self, rel: str) -> int:
        """Open a directory found by the walk, refusing any symlink on the way."""
        fd = os.dup(self.fd)
        for name in [p for p in rel.split("/") if p]:
            try:
                child = os.open(name, _O_DIR, dir_fd=fd)
            finally:
                os.close(fd)
            fd = child
        return fd

    def walk(self, visit: Callable[[str, int, str, os.stat_result], None], errors: List[str]) -> None:
        """Call ``visit(path, dir_fd, name, lstat)`` for every entry below the root, where
        ``path`` is absolute in the image. Symlinks are never followed; directories are
        entered by descriptor, one component at a time."""
        pending = [""]
        while pending:
            rel = pending.pop()
            try:
                fd = self._open_dir_strict(rel)
            except OSError as err:
                errors.append("/%s: %s" % (rel.rstrip("/"), err.strerror))
                continue
            try:
                names = sorted(os.listdir(fd))
                subdirs = []
                for name in names:
                    try:
                        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    except OSError as err:
                        errors.append("/%s%s: %s" % (rel, name, err.strerror))
                        continue
                    visit("/" + rel + name, fd, name, st)
                    if stat.S_ISDIR(st.st_mode):
                        subdirs.append(rel + name + "/")
                pending.extend(reversed(subdirs))
            finally:
                os.close(fd)


# ---------------------------------------------------------------------------
# packages
# ---------------------------------------------------------------------------
def _stanzas(text: str) -> List[str]:
    """The blank-line-separated blocks of a package database (dpkg status, apk installed)."""
    return re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n"))


def parse_dpkg_status(text: str, require_installed: bool = True) -> List[Dict[str, Any]]:
    """Packages of a dpkg status file. A stanza with a ``Status`` counts only when installed;
    one without (distroless ``status.d`` files) counts unless ``require_installed``."""
    packages = []
    for stanza in _stanzas(text):
        fields: Dict[str, str] = {}
        for line in stanza.split("\n"):
            if not line or line[0] in " \t#" or ":" not in line:
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        name = fields.get("package")
        if not name:
            continue
        status = fields.get("status")
        if status is not None:
            words = status.split()
            if len(words) != 3 or words[2] != "installed":
                continue
        elif require_installed:
            continue
        packages.append({"name": name, "version": fields.get("version"), "arch": fields.get("architecture"),
                         "source": "dpkg"})
    return packages


def parse_apk_installed(text: str) -> List[Dict[str, Any]]:
    """Packages of apk's ``lib/apk/db/installed``."""
    packages = []
    for block in _stanzas(text):
        fields: Dict[str, str] = {}
        for line in block.split("\n"):
            if len(line) > 1 and line[1] == ":" and line[0] not in fields:
                fields[line[0]] = line[2:].strip()
        if fields.get("P"):
            packages.append({"name": fields["P"], "version": fields.get("V"), "arch": fields.get("A"), "source": "apk"})
    return packages


RPM_DB_PATHS = ("usr/lib/sysimage/rpm", "var/lib/rpm")
RPM_QUERY_FORMAT = "%{NAME}\\t%|EPOCH?{%{EPOCH}:}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\n"


def rpm_packages(root: RootFS, rpm: Optional[str] = None, timeout: float = 300) -> List[Dict[str, Any]]:
    """``rpm --root`` on the image's rpm database, when the host has rpm and the image a database."""
    rpm = rpm or shutil.which("rpm")
    if not rpm:
        return []
    for dbpath in RPM_DB_PATHS:
        if root.exists(dbpath, directory=True) and root.listdir(dbpath):
            break
    else:
        return []
    argv = [rpm, "--root", root.path, "--dbpath", "/" + dbpath, "-qa", "--qf", RPM_QUERY_FORMAT]
    try:
        proc = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ScanError("rpm could not read the image's database: %s" % err)
    if proc.returncode != 0:
        raise ScanError("rpm could not read the image's database (exit %d): %s"
                        % (proc.returncode, proc.stderr.decode("utf-8", "replace").strip()))
    packages = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0] != "gpg-pubkey":
            packages.append({"name": parts[0], "version": parts[1], "arch": parts[2], "source": "rpm"})
    return packages


def scan_packages(root: RootFS, rpm: Optional[str] = None) -> List[Dict[str, Any]]:
    packages = []
    status = root.read("var/lib/dpkg/status")
    if status is not None:
        packages += parse_dpkg_status(status.decode("utf-8", "replace"))
    for name in root.listdir("var/lib/dpkg/status.d"):
        if name.startswith(".") or name.endswith(".md5sums"):
            continue
        data = root.read("var/lib/dpkg/status.d/" + name)
        if data is not None:
            packages += parse_dpkg_status(data.decode("utf-8", "replace"), require_installed=False)
    installed = root.read("lib/apk/db/installed")
    if installed is not None:
        packages += parse_apk_installed(installed.decode("utf-8", "replace"))
    packages += rpm_packages(root, rpm)
    return sorted(packages, key=lambda p: (p["source"], p["name"], p["version"] or "", p["arch"] or ""))


# ---------------------------------------------------------------------------
# file scanners
# ---------------------------------------------------------------------------
def _type(mode: int) -> str:
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "directory"), (stat.S_ISCHR, "char"),
                       (stat.S_ISBLK, "block"), (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "other"


def setuid_entry(path: str, st: os.stat_result) -> Optional[Dict[str, Any]]:
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & (stat.S_ISUID | stat.S_ISGID):
        return None
    return {"path": path, "mode": "%04o" % stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
            "setuid": bool(st.st_mode & stat.S_ISUID), "setgid": bool(st.st_mode & stat.S_ISGID)}


def world_writable_entry(path: str, st: os.stat_result) -> Optional[Dict[str, Any]]:
    if stat.S_ISLNK(st.st_mode) or not st.st_mode & stat.S_IWOTH:
        return None
    if stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX:
        return None
    return {"path": path, "mode": "%04o" % stat.S_IMODE(st.st_mode), "type": _type(st.st_mode)}


_EXAMPLE_KEYS = (b"AKIAIOSFODNN7EXAMPLE",)
_CONTENT_PATTERNS = [
    ("private_key", rb"-----BEGIN (?:(?:RSA|DSA|EC|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY(?: BLOCK)?-----"),
    ("private_key", rb"PuTTY-User-Key-File-\d+:"),
    ("aws_access_key", rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("github_token", rb"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    ("gitlab_token", rb"\bglpat-[0-9A-Za-z_-]{20,}"),
    ("slack_token", rb"\bxox[abposr]-[0-9A-Za-z-]{10,}"),
    ("google_api_key", rb"\bAIza[0-9A-Za-z_-]{35}"),
    ("stripe_key", rb"\b[rs]k_live_[0-9A-Za-z]{20,}"),
    ("npm_token", rb"\bnpm_[A-Za-z0-9]{36}\b"),
]
_CONTENT = re.compile(b"|".join(b"(?P<k%d>%s)" % (i, p) for i, (dummy, p) in enumerate(_CONTENT_PATTERNS)))
# File names whose content says whether they hold a credential.
_NAMED = {
    ".netrc": ("netrc_password", re.compile(rb"(?m)\bpassword\s+\S+")),
    "_netrc": ("netrc_password", re.compile(rb"(?m)\bpassword\s+\S+")),
    ".git-credentials": ("git_credentials", re.compile(rb"[a-z][a-z0-9+.-]*://[^:/\s@]+:[^@\s]+@")),
    ".npmrc": ("npm_token", re.compile(rb"_auth(?:Token)?\s*=\s*\S+")),
    ".pypirc": ("pypi_password", re.compile(rb"(?m)^\s*password\s*[=:]\s*\S+")),
    "config.json": ("docker_auth", re.compile(rb'"auth"\s*:\s*"[A-Za-z0-9+/=]{4,}"')),
    "auth.json": ("docker_auth", re.compile(rb'"auth"\s*:\s*"[A-Za-z0-9+/=]{4,}"')),
}
# Where config.json and auth.json are registry credential files.
_NAMED_DIRS = {"config.json": "/.docker/", "auth.json": "/containers/"}


def _line(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def find_secrets(path: str, data: bytes) -> List[Dict[str, Any]]:
    """Secrets in ``data`` (the start of the file at ``path``): one entry per kind, with the
    line of its first occurrence."""
    found: Dict[str, int] = {}
    name = path.rsplit("/", 1)[-1]
    named = _NAMED.get(name)
    if named and _NAMED_DIRS.get(name, "/") in path:
        match = named[1].search(data)
        if match:
            found[named[0]] = _line(data, match.start())
    for match in _CONTENT.finditer(data):
        if match.group(0) in _EXAMPLE_KEYS:
            continue
        kind = _CONTENT_PATTERNS[int(match.lastgroup[1:])][0]
        if kind not in found:
            found[kind] = _line(data, match.start())
    return [{"path": path, "kind": kind, "line": line} for kind, line in sorted(found.items())]


def _read_at(dir_fd: int, name: str, limit: int) -> Optional[bytes]:
    try:
        fd = os.open(name, _O_FILE, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return read_bounded(fd, limit)
    finally:
        os.close(fd)


def scan_files(root: RootFS, scanners: Sequence[str], errors: List[str]) -> Dict[str, List[Dict[str, Any]]]:
    """One walk for the file scanners among ``scanners`` (setuid, world_writable, secrets)."""
    wanted = [n for n in ("setuid", "world_writable", "secrets") if n in scanners]
    results: Dict[str, List[Dict[str, Any]]] = {n: [] for n in wanted}

    def visit(path: str, dir_fd: int, name: str, st: os.stat_result) -> None:
        if "setuid" in results:
            entry = setuid_entry(path, st)
            if entry:
                results["setuid"].append(entry)
        if "world_writable" in results:
            entry = world_writable_entry(path, st)
            if entry:
                results["world_writable"].append(entry)
        if "secrets" in results and stat.S_ISREG(st.st_mode) and st.st_size > 0:
            data = _read_at(dir_fd, name, MAX_SECRET_READ)
            if data is None:
                errors.append("%s: cannot be read" % path)
            else:
                results["secrets"].extend(find_secrets(path, data))

    if results:
        root.walk(visit, errors)
    for entries in results.values():
        entries.sort(key=lambda e: (e["path"], e.get("kind", "")))
    return results


# ---------------------------------------------------------------------------
# command
# ---------------------------------------------------------------------------
def run_command(rootfs: str, command: Union[str, Sequence[str]], timeout: Optional[float] = None) -> Dict[str, Any]:
    """Run a host command on the rootfs: its path is the last argument and ``$ROOTFS``."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if not argv:
        raise ScanError("the command scanner needs a command")
    argv.append(rootfs)
    env = dict(os.environ, ROOTFS=rootfs)
    try:
        proc = subprocess.run(argv, env=env, cwd="/", stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ScanError("the command %s did not finish within %s seconds" % (argv[0], timeout))
    except OSError as err:
        raise ScanError("the command %s could not run: %s" % (argv[0], err.strerror or err))
    return {"rc": proc.returncode, "stdout": proc.stdout.decode("utf-8", "replace"),
            "stderr": proc.stderr.decode("utf-8", "replace"), "argv": argv}


# ---------------------------------------------------------------------------
# all together
# ---------------------------------------------------------------------------
def scan(rootfs: str, scanners: Sequence[str] = DEFAULT_SCANNERS, command: Union[str, Sequence[str], None] = None,
         timeout: Optional[float] = None, rpm: Optional[str] = None) -> Dict[str, Any]:
    """Run ``scanners`` over the tree at ``rootfs``. Returns ``{scanner: result}``, plus
    ``errors`` (entries that could not be read) when there are any."""
    unknown = [s for s in scanners if s not in SCANNERS]
    if unknown:
        raise ScanError("unknown scanner(s) %s; known: %s" % (", ".join(unknown), ", ".join(SCANNERS)))
    if "command" in scanners and not command:
        raise ScanError("the command scanner needs a command")
    results: Dict[str, Any] = {}
    errors: List[str] = []
    with RootFS(rootfs) as root:
        if "packages" in scanners:
            results["packages"] = scan_packages(root, rpm)
        results.update(scan_files(root, scanners, errors))
    if "command" in scanners:
        results["command"] = run_command(rootfs, command, timeout)
    if errors:
        results["errors"] = errors
    return results
