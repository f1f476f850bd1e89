# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where each mount of a container lands: one rule for every destination in its config.json.

The rootfs is the image's, so any component of a destination may be a symlink, and a
symlink may point anywhere. runc resolves its mount destinations inside the rootfs, but not
every path it touches: runc 1.1 makes /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr,
/dev/core and /dev/ptmx with plain path joins before pivot_root, so an image whose ``/dev``
is a symlink to ``/etc`` (or ``../../..``) has runc create and remove files in that host
directory. The rule, applied by ``contain_mounts`` to the whole mount list:

* the runtime's own mount points (``/proc``, ``/dev``, ``/sys`` and what runc mounts below
  them) must be real directories of the image, or absent: a symlink or a non-directory on
  their path is refused, naming the image path and its target;
* every other destination (binds, named and anonymous volumes, tmpfs, the per-container
  /etc files) is resolved inside the rootfs (storage.rootfs.resolve_in_root), and runc is
  given the resolved path, which has no symlink of the image left in it; one that resolves
  into /proc, /sys or /dev is refused. A destination below an earlier mount is resolved in
  that mount's content at run time, by runc: only the earlier mount's part is rewritten.
"""

from __future__ import annotations

import os

from ..storage.rootfs import SymlinkInPathError, open_dir_at, resolve_in_root
from .errors import ContainerError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional, Tuple

#: kernel filesystems the runtime mounts: no working directory or volume may land in them
KERNEL_DIRS = ("proc", "sys", "dev")


def _below(path: str, parent: str) -> bool:
    return parent == "/" or path == parent or path.startswith(parent.rstrip("/") + "/")


def in_root(rootfs: str, path: str) -> str:
    """``path`` as the container sees it once image symlinks are resolved inside ``rootfs``."""
    resolved = os.path.relpath(resolve_in_root(rootfs, path), rootfs)
    return "/" if resolved == "." else "/" + resolved


def _refuse_kernel(what: str, path: str, resolved: str) -> None:
    top = resolved.lstrip("/").split("/", 1)[0]
    if top in KERNEL_DIRS:
        via = "" if resolved == path.rstrip("/") else " (through symlinks in the image, it is %s)" % resolved
        raise ContainerError("%s %s is inside /%s%s: refusing it" % (what, path, top, via))


def check_path(rootfs: str, what: str, path: str) -> str:
    """The resolved ``path`` (a working directory, a volume); ContainerError if it is in a
    kernel filesystem, where a path such as /proc/self/fd/N reaches the runtime's open files."""
    resolved = in_root(rootfs, path)
    _refuse_kernel(what, path, resolved)
    return resolved


def _not_a_real_directory(rootfs: str, path: str) -> Optional[str]:
    """Why ``path`` of the image is not a real directory (None when it is one, or is absent)."""
    fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    done = ""
    try:
        for name in [p for p in path.split("/") if p]:
            done += "/" + name
            try:
                child = open_dir_at(fd, name)
            except SymlinkInPathError:
                return "%s is a symlink to %s" % (done, os.readlink(name, dir_fd=fd))
            except NotADirectoryError:
                return "%s is not a directory" % done
            except FileNotFoundError:
                return None
            os.close(fd)
            fd = child
        return None
    finally:
        os.close(fd)


def check_runtime_dirs(rootfs: str, destinations: Iterable[str]) -> None:
    """Refuse an image where the runtime's own mount points are not real directories."""
    for path in destinations:
        problem = _not_a_real_directory(rootfs, path)
        if problem is not None:
            raise ContainerError("the image's %s: the OCI runtime mounts %s there and makes files in it, "
                                 "so it must be a directory of the image (or absent); refusing the image"
                                 % (problem, path))


def contain_mounts(rootfs: str, mounts: List[Dict[str, Any]], runtime_mounts: Iterable[str]) -> List[Dict[str, Any]]:
    """``mounts`` (config.json order) with every destination made safe by the rule above.
    ``runtime_mounts`` are the destinations of the runtime's own kernel mounts."""
    own = set(runtime_mounts)
    done: List[Tuple[str, str]] = []  # (destination as asked, as given to runc), in mount order
    result = []
    for mount in mounts:
        target = mount["destination"]
        parents = [(asked, given) for asked, given in done if _below(target, asked)]
        if target in own:
            if not parents:  # below another kernel mount, the image's tree is hidden
                check_runtime_dirs(rootfs, [target])
            resolved = target
        elif parents:
            asked, given = max(parents, key=lambda pair: len(pair[0]))
            rest = target[len(asked.rstrip("/")):] if asked != "/" else target
            resolved = os.path.normpath(given.rstrip("/") + "/" + rest.lstrip("/"))
            _refuse_kernel("volume", target, resolved)
        else:
            resolved = check_path(rootfs, "volume", target)
        done.append((target, resolved))
        result.append(dict(mount, destination=resolved) if resolved != target else mount)
    return result
