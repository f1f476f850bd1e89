# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files of ``/exports/hostfs/`` copied onto the host, and removed again.

As atomic: each path is renamed by ``renameFiles`` one component at a time (the key
``/etc/foo`` renames ``/etc/foo/bar.conf`` too), a file already on the host is left alone
and not recorded (with a warning), and each file copied is recorded with its sha256, so
that removal keeps a file the user has changed since (with a warning). Unlike atomic, the
directories made for them are recorded and removed when empty, and files are copies, never
hardlinks into the deployment (an edit on the host would change the image's layer).
"""

from __future__ import annotations

import hashlib
import os
import stat

from ..storage.rootfs import open_in_root
from .errors import SystemContainerError
from .exports import EXPORTS, HOSTFS, HostfsEntry

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Dict, List, Mapping, Sequence, Tuple

CHUNK = 1024 * 1024


def rename_path(path: str, renames: Mapping[str, str]) -> str:
    """``path`` (absolute) after ``renameFiles`` (values already substituted)."""
    result = ""
    for part in path.split("/")[1:]:
        result = "%s/%s" % (result, part)
        result = renames.get(result, result)
    return result


def host_path(host_root: str, path: str) -> str:
    clean = os.path.normpath("/" + path.lstrip("/"))
    if clean != "/" + path.lstrip("/").rstrip("/") or ".." in path.split("/"):
        raise SystemContainerError("host file %r: not a clean absolute path" % path)
    return os.path.join(host_root, clean.lstrip("/"))


def file_checksum(path: str) -> str:
    """``sha256:HEX`` of a regular file; "" when it is missing or not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        digest = hashlib.sha256()
        while True:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                return "sha256:" + digest.hexdigest()
            digest.update(chunk)
    finally:
        os.close(fd)


def _makedirs(path: str, mode: int, made: List[str], host_root: str) -> None:
    missing = []
    current = path
    while not os.path.lexists(current) and current != host_root:
        missing.append(current)
        current = os.path.dirname(current)
    for directory in reversed(missing):
        os.mkdir(directory, mode)
        os.chmod(directory, mode)  # not the umask's
        made.append(directory)


def _copy(rootfs: str, source: str, dest: str, mode: int) -> str:
    src = open_in_root(rootfs, source, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        dst = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            digest = hashlib.sha256()
            while True:
                chunk = os.read(src, CHUNK)
                if not chunk:
                    break
                digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(dst, view):]
            os.fchmod(dst, mode)
            os.fsync(dst)
        finally:
            os.close(dst)
    finally:
        os.close(src)
    return "sha256:" + digest.hexdigest()


def install_host_files(rootfs: str, entries: Sequence[HostfsEntry], renames: Mapping[str, str],
                       host_root: str) -> Tuple[Dict[str, str], List[str], List[str]]:
    """Copy ``entries`` (from /exports/hostfs of ``rootfs``) under ``host_root``.

    Returns ``(files, dirs, warnings)``: host path (as seen from the host's /) -> sha256 of
    each file copied, the directories made (parents first), and what was skipped."""
    files: Dict[str, str] = {}
    made: List[str] = []
    warnings: List[str] = []
    root = os.path.abspath(host_root)
    try:
        for entry in entries:
            target = rename_path(entry.path, renames)
            dest = host_path(root, target)
            if entry.kind == "dir":
                if not os.path.lexists(dest):
                    _makedirs(dest, entry.mode, made, root)
                continue
            if os.path.lexists(dest):
                warnings.append("%s exists on the host already: not replaced by the image's %s%s/%s"
                                % (target, EXPORTS, "/" + HOSTFS, entry.path.lstrip("/")))
                continue
            _makedirs(os.path.dirname(dest), 0o755, made, root)
            files[target] = _copy(rootfs, "%s/%s%s" % (EXPORTS, HOSTFS, entry.path), dest, entry.mode)
    except OSError as err:
        remove_host_files(host_root, files, [d[len(root):] or "/" for d in made])
        raise SystemContainerError("cannot copy /exports/hostfs of the image to the host: %s" % err) from None
    return files, [d[len(root):] or "/" for d in made], warnings


def remove_host_files(host_root: str, files: Mapping[str, str], dirs: Sequence[str]) -> List[str]:
    """Remove the files recorded by install_host_files that are unchanged, then the
    directories it made that are empty; returns warnings for the files kept."""
    warnings = []
    root = os.path.abspath(host_root)
    for target, checksum in sorted(files.items()):
        path = host_path(root, target)
        current = file_checksum(path)
        if not current:
            continue
        if current != checksum:
            warnings.append("%s was changed on the host since it was installed: kept" % target)
            continue
        os.unlink(path)
    for target in sorted(dirs, key=len, reverse=True):
        try:
            os.rmdir(host_path(root, target))
        except OSError:
            pass  # not empty (the user's files, or kept ones), or gone already
    return warnings
