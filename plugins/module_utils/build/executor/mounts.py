# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``RUN --mount`` as runtime mounts, each source checked.

- ``secret``: the file given in ``secrets`` (id -> host file) is copied into a private
  directory of the run root (``/run``: tmpfs) and bound read-only, by default at
  ``/run/secrets/ID``; it is outside the upper directory, so it can never reach a layer, and
  the history names only the instruction. A missing secret is an error when ``required``,
  else the mount is left out.
- ``cache``: a directory of the store, ``build-cache-mounts/<sha256 of the id>``: the id is
  user input and is never joined into a path (CVE-2024-9675, where ``id=../..`` named any
  host directory).
- ``bind``: from the context, or from another stage's or image's rootfs (``from``). The
  source is cleaned as a rooted path and a ``..`` that would climb above the root is refused
  (CVE-2024-1753, where a bind source left the context); links are resolved inside the root.
  A read-write bind gets a private copy, so a RUN never writes into the context or a stage.
- ``tmpfs``: a tmpfs, with ``size``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile

from ...common.fileutil import makedirs_private
from ...storage.rootfs import resolve_in_root
from ..dockerfile.mounts import Mount
from ..errors import BuildError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

CACHE_MOUNTS_DIR = "build-cache-mounts"


def checked_source(root: str, source: str, what: str) -> str:
    """The host path of ``source`` inside ``root``; BuildError if ``..`` would climb out."""
    depth = 0
    for part in source.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                raise BuildError("%s: source %r leaves its root with '..' (refused)" % (what, source))
        elif part not in ("", "."):
            depth += 1
    path = resolve_in_root(root, "/" + source.lstrip("/"))
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
        raise BuildError("%s: source %r leads out of its root (refused)" % (what, source))
    return path


def _secret(mount: Mount, secrets: Dict[str, str], private: str, env: Dict[str, str]) -> Optional[Dict[str, Any]]:
    ident = mount.id or mount.source or os.path.basename(mount.target.rstrip("/"))
    if not ident:
        raise BuildError("RUN --mount=type=secret needs an id (or a target)")
    path = secrets.get(ident)
    if path is None:
        if mount.required:
            raise BuildError("RUN --mount=type=secret,id=%s: no secret of that id is given (secrets option)" % ident)
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read(1024 * 1024 + 1)
    except OSError as err:
        raise BuildError("secret %s: %s: %s" % (ident, path, err.strerror or err))
    if len(data) > 1024 * 1024:
        raise BuildError("secret %s: %s is larger than 1 MiB" % (ident, path))
    if mount.env:
        env[mount.env] = data.decode("utf-8", "replace")
        if not mount.target:
            return None
    makedirs_private(private)
    holder = tempfile.mkdtemp(prefix="secret-", dir=private)
    copy = os.path.join(holder, "secret")
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mount.mode if mount.mode is not None else 0o400)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chown(copy, mount.uid or 0, mount.gid or 0)
    return {"type": "bind", "source": copy, "target": mount.target or "/run/secrets/" + ident, "read_only": True}


def _cache(mount: Mount, store_root: str) -> Dict[str, Any]:
    if mount.from_:
        raise BuildError("RUN --mount=type=cache,from=...: a cache seeded from a stage is not supported")
    ident = mount.id or mount.target
    root = os.path.join(store_root, CACHE_MOUNTS_DIR)
    makedirs_private(root)
    path = os.path.join(root, hashlib.sha256(ident.encode("utf-8", "surrogateescape")).hexdigest())
    if not os.path.isdir(path):
        os.mkdir(path, mount.mode if mount.mode is not None else 0o755)
        os.chown(path, mount.uid or 0, mount.gid or 0)
    return {"type": "bind", "source": path, "target": mount.target, "read_only": mount.read_only}


def run_mounts(mounts: List[Mount], *, secrets: Dict[str, str], store_root: str, private: str, context_dir: str,
               root_of: Callable[[str], str]) -> Tuple[List[Dict[str, Any]], Dict[str, str]]:
    """Runtime mounts and extra environment for one RUN. ``root_of(name)``: the rootfs of a
    stage or image named in ``from``; ``private``: a directory of this build under the run root."""
    result: List[Dict[str, Any]] = []
    env: Dict[str, str] = {}
    makedirs_private(private)
    for mount in mounts:
        where = "RUN --mount=type=%s" % mount.type
        if mount.type == "secret":
            item = _secret(mount, secrets, private, env)
            if item is not None:
                result.append(item)
        elif mount.type == "cache":
            result.append(_cache(mount, store_root))
        elif mount.type == "tmpfs":
            options = ["size=%d" % mount.size_limit] if mount.size_limit else []
            result.append({"type": "tmpfs", "target": mount.target, "options": options})
        elif mount.type == "bind":
            root = root_of(mount.from_) if mount.from_ else context_dir
            source = checked_source(root, mount.source or "/", where)
            if not mount.read_only:
                holder = tempfile.mkdtemp(prefix="bind-", dir=private)
                copy = os.path.join(holder, "rw")
                if os.path.isdir(source):
                    shutil.copytree(source, copy, symlinks=True)
                else:
                    shutil.copy2(source, copy, follow_symlinks=False)
                source = copy
            result.append({"type": "bind", "source": source, "target": mount.target, "read_only": mount.read_only})
        else:
            raise BuildError("%s is not supported (secret, cache, bind and tmpfs are)" % where)
    return result, env
