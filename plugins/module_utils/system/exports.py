# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an image in the atomic system-container format ships under ``/exports``.

``config.json.template`` (an OCI runtime config), ``service.template`` (the systemd
service), ``socket.template``, ``tmpfiles.template``, ``manifest.json`` (``defaultValues``,
``renameFiles``, ``noContainerService``) and ``hostfs/``, a tree copied onto the host.
Every file is read through storage.rootfs, so a link in the image never leads out of its
rootfs; reads are bounded, and a file that is not UTF-8 or a manifest that is not the
expected JSON is an error naming the file.
"""

from __future__ import annotations

import errno
import json
import os
import stat

from ..storage.rootfs import SymlinkInPathError, open_dir_at, open_in_root, read_file_in_root
from .errors import SystemContainerError
from .templates import check_values

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

EXPORTS = "/exports"
TEMPLATES = {"config": "config.json.template", "service": "service.template", "socket": "socket.template",
             "tmpfiles": "tmpfiles.template"}
MANIFEST = "manifest.json"
HOSTFS = "hostfs"
MAX_TEMPLATE = 1024 * 1024
MAX_HOSTFS_ENTRIES = 10000
MAX_HOSTFS_DEPTH = 64


class HostfsEntry:
    __slots__ = ("path", "kind", "mode")

    def __init__(self, path: str, kind: str, mode: int):
        self.path = path  # as on the host, before renameFiles: "/etc/foo.conf"
        self.kind = kind  # "file" or "dir"
        self.mode = mode


class Exports:
    __slots__ = ("present", "templates", "default_values", "rename_files", "no_container_service", "hostfs", "warnings")

    def __init__(self, present: bool = False, templates: Optional[Dict[str, str]] = None,
                 default_values: Optional[Dict[str, str]] = None, rename_files: Optional[Dict[str, str]] = None,
                 no_container_service: bool = False, hostfs: Optional[List[HostfsEntry]] = None,
                 warnings: Optional[List[str]] = None):
        self.present = present
        self.templates = {} if templates is None else templates  # "service" -> text, ...
        self.default_values = {} if default_values is None else default_values
        self.rename_files = {} if rename_files is None else rename_files
        self.no_container_service = no_container_service
        self.hostfs = [] if hostfs is None else hostfs
        self.warnings = [] if warnings is None else warnings


def _read_text(rootfs: str, path: str) -> Optional[str]:
    try:
        data = read_file_in_root(rootfs, path, MAX_TEMPLATE + 1)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise SystemContainerError("cannot read %s of the image: %s" % (path, err.strerror or err)) from None
    if len(data) > MAX_TEMPLATE:
        raise SystemContainerError("%s of the image is larger than %d bytes" % (path, MAX_TEMPLATE))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SystemContainerError("%s of the image is not UTF-8 text (byte %d)" % (path, err.start)) from None


def parse_manifest(text: str, path: str = EXPORTS + "/" + MANIFEST) -> Dict[str, Any]:
    """``manifest.json``, checked: an object whose ``defaultValues`` is an object of
    scalars, ``renameFiles`` an object of absolute paths, ``noContainerService`` a boolean."""
    try:
        manifest = json.loads(text)
    except ValueError as err:
        raise SystemContainerError("%s of the image is not valid JSON: %s" % (path, err)) from None
    if not isinstance(manifest, dict):
        raise SystemContainerError("%s of the image must hold a JSON object" % path)
    defaults = check_values(manifest.get("defaultValues") or {}, "%s: defaultValues" % path)
    renames = manifest.get("renameFiles") or {}
    if not isinstance(renames, dict):
        raise SystemContainerError("%s: renameFiles must be an object of PATH: NEW_PATH" % path)
    for source, target in renames.items():
        if not (isinstance(source, str) and source.startswith("/") and isinstance(target, str) and target):
            raise SystemContainerError("%s: renameFiles: %r: %r is not an absolute path renamed to a path"
                                       % (path, source, target))
    no_service = manifest.get("noContainerService", False)
    if not isinstance(no_service, bool):
        raise SystemContainerError("%s: noContainerService must be true or false, not %r" % (path, no_service))
    return {"defaultValues": defaults, "renameFiles": dict(renames), "noContainerService": no_service}


def _walk_hostfs(rootfs: str, warnings: List[str]) -> List[HostfsEntry]:
    base = EXPORTS + "/" + HOSTFS
    try:
        top = open_in_root(rootfs, base, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return []
        raise SystemContainerError("cannot read %s of the image: %s" % (base, err.strerror or err)) from None
    found: List[HostfsEntry] = []
    stack = [(top, "", 0)]
    try:
        while stack:
            fd, rel, depth = stack.pop()
            try:
                with os.scandir(fd) as entries:
                    names = sorted(entry.name for entry in entries)
                for name in names:
                    path = rel + "/" + name
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        if depth >= MAX_HOSTFS_DEPTH:
                            raise SystemContainerError("%s%s of the image is nested too deep" % (base, path))
                        found.append(HostfsEntry(path, "dir", stat.S_IMODE(st.st_mode)))
                        try:
                            stack.append((open_dir_at(fd, name), path, depth + 1))
                        except SymlinkInPathError:
                            raise SystemContainerError("%s%s of the image changed while it was read" % (base, path)) from None
                    elif stat.S_ISREG(st.st_mode):
                        found.append(HostfsEntry(path, "file", stat.S_IMODE(st.st_mode)))
                    else:
                        warnings.append("%s%s of the image is not a regular file or a directory: not copied to the "
                                        "host" % (base, path))
                    if len(found) > MAX_HOSTFS_ENTRIES:
                        raise SystemContainerError("%s of the image has more than %d entries" % (base, MAX_HOSTFS_ENTRIES))
            finally:
                os.close(fd)
    finally:
        for fd, dummy, dummy2 in stack:
            os.close(fd)
    return sorted(found, key=lambda e: e.path)


def read_exports(rootfs: str) -> Exports:
    """The /exports of the rootfs at ``rootfs`` (``present`` false when there is none)."""
    result = Exports()
    try:
        fd = open_in_root(rootfs, EXPORTS, os.O_RDONLY | os.O_DIRECTORY)
        os.close(fd)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return result
        raise SystemContainerError("cannot read %s of the image: %s" % (EXPORTS, err.strerror or err)) from None
    result.present = True
    for kind, filename in TEMPLATES.items():
        text = _read_text(rootfs, "%s/%s" % (EXPORTS, filename))
        if text is not None:
            result.templates[kind] = text
    text = _read_text(rootfs, "%s/%s" % (EXPORTS, MANIFEST))
    if text is not None:
        manifest = parse_manifest(text)
        result.default_values = manifest["defaultValues"]
        result.rename_files = manifest["renameFiles"]
        result.no_container_service = manifest["noContainerService"]
    result.hostfs = _walk_hostfs(rootfs, result.warnings)
    return result
