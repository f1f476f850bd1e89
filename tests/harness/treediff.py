# -*- coding: utf-8 -*-
"""Snapshots of file trees, readable differences, and the merged view of layer directories.

``snapshot(root)`` walks a tree without following symlinks and records, per path (``/``,
``/bin``, ``/bin/sh``...): type, permission bits (setuid/setgid/sticky included), uid,
gid, the size and sha256 of regular files, symlink targets, device numbers, the xattrs
selected by ``xattrs`` (name prefixes), hardlink groups (the sorted paths that share one
inode inside the tree) and, with ``mtimes=True``, the mtime in nanoseconds. Directory
sizes and link counts are not recorded: they depend on the filesystem (ext4 vs overlay),
not on the image.

``diff(a, b)`` lists what differs, one readable line per difference; ``[]`` means equal.

The merged view of an image's unpacked layers (overlayfs lower dirs, whiteouts in
overlay's native form) comes two ways:

* ``overlay_mount(layer_dirs)``: a real read-only overlay mount of the layers (bottom
  first, as in the manifest), yielding the mount point, always unmounted on exit;
  ``merged_snapshot(layer_dirs)`` snapshots it.
* ``apply_layers(layer_dirs)``: the same merge computed in Python from per-layer
  snapshots, following overlayfs' rules (a char device 0/0 hides the lower path, the xattr
  ``trusted.overlay.opaque=y`` hides the lower content of its directory, a directory over
  a lower directory merges and shows the upper one's attributes, anything else replaces).
  It is the model the real mount is checked against, and a fallback where overlay mounts
  are impossible.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass, replace
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

#: xattr name prefixes recorded by default. security.selinux is left out on purpose: it is
#: the host's labelling, not the image's.
DEFAULT_XATTRS: Tuple[str, ...] = ("security.capability", "user.", "trusted.", "system.posix_acl_")
OVERLAY_XATTR = "trusted.overlay."
OPAQUE_XATTR = "trusted.overlay.opaque"
MOUNT_TIMEOUT = 60
#: Mount option strings must fit in one page; past this, lowerdirs are given relative to
#: their common parent (the mount runs there), like containers/storage's short links.
_MAX_OPTIONS = 3500

_KINDS = ((stat.S_ISDIR, "dir"), (stat.S_ISREG, "file"), (stat.S_ISLNK, "symlink"),
          (stat.S_ISCHR, "char"), (stat.S_ISBLK, "block"), (stat.S_ISFIFO, "fifo"),
          (stat.S_ISSOCK, "socket"))


@dataclass(frozen=True)
class Node:
    """What is recorded for one path. Fields that do not apply to the kind are None."""

    kind: str
    mode: int                                   # stat.S_IMODE: 0o7777 bits
    uid: int
    gid: int
    size: Optional[int] = None                  # regular files and symlinks
    sha256: Optional[str] = None                # regular files
    target: Optional[str] = None                # symlinks
    rdev: Optional[Tuple[int, int]] = None      # char and block devices
    xattrs: Tuple[Tuple[str, bytes], ...] = ()
    link: Optional[Tuple[str, ...]] = None      # hardlink group (>= 2 paths), sorted
    mtime: Optional[int] = None                 # ns, only with mtimes=True

    @property
    def is_whiteout(self) -> bool:
        """An overlay-native whiteout: a character device 0/0."""
        return self.kind == "char" and self.rdev == (0, 0)

    @property
    def is_opaque(self) -> bool:
        return self.kind == "dir" and (OPAQUE_XATTR, b"y") in self.xattrs

    def describe(self) -> str:
        parts = [self.kind, "%04o" % self.mode, "%d:%d" % (self.uid, self.gid)]
        if self.size is not None and self.kind == "file":
            parts.append("size=%d" % self.size)
        if self.sha256 is not None:
            parts.append("sha256=%s" % self.sha256[:12])
        if self.target is not None:
            parts.append("-> %r" % self.target)
        if self.rdev is not None:
            parts.append("dev=%d,%d" % self.rdev)
        if self.xattrs:
            parts.append("xattrs=%s" % ",".join(name for name, _ in self.xattrs))
        if self.link:
            parts.append("links=%d" % len(self.link))
        if self.mtime is not None:
            parts.append("mtime=%d" % self.mtime)
        return " ".join(parts)


FIELDS = ("kind", "mode", "uid", "gid", "size", "sha256", "target", "rdev", "xattrs", "link", "mtime")


class Snapshot(Dict[str, Node]):
    """path -> Node, plus ``inodes`` (path -> inode key) until hardlinks are grouped."""

    def __init__(self, root: str = "") -> None:
        super().__init__()
        self.root = root
        self.inodes: Dict[str, Tuple[object, ...]] = {}

    def group_hardlinks(self) -> "Snapshot":
        """Set ``link`` on every non-directory that shares its inode with another path here."""
        groups: Dict[Tuple[object, ...], List[str]] = {}
        for path, key in self.inodes.items():
            if path in self and self[path].kind != "dir":
                groups.setdefault(key, []).append(path)
        for path in self:
            if self[path].link is not None:
                self[path] = replace(self[path], link=None)
        for paths in groups.values():
            if len(paths) > 1:
                group = tuple(sorted(paths))
                for path in paths:
                    self[path] = replace(self[path], link=group)
        return self

    def below(self, path: str) -> List[str]:
        """Paths strictly below ``path``."""
        prefix = "/" if path == "/" else path + "/"
        return [p for p in self if p != path and p.startswith(prefix)]


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "unknown"


def _hash_file(path: str) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        while True:
            chunk = os.read(fd, 1024 * 1024)
            if not chunk:
                break
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest()


def _xattrs(path: str, prefixes: Sequence[str]) -> Tuple[Tuple[str, bytes], ...]:
    if not prefixes:
        return ()
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:  # ENOTSUP on symlinks for user.*, or a filesystem without xattrs
        return ()
    out = []
    for name in names:
        if name.startswith(tuple(prefixes)):
            try:
                out.append((name, os.getxattr(path, name, follow_symlinks=False)))
            except OSError:
                continue
    return tuple(sorted(out))


def node_of(path: str, st: Optional[os.stat_result] = None, *, mtimes: bool = False,
            xattrs: Sequence[str] = DEFAULT_XATTRS, content: bool = True) -> Node:
    """The Node of one path (not following a final symlink)."""
    st = st or os.lstat(path)
    kind = _kind(st.st_mode)
    node = Node(kind=kind, mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid,
                xattrs=_xattrs(path, xattrs), mtime=st.st_mtime_ns if mtimes else None)
    if kind == "file":
        node = replace(node, size=st.st_size, sha256=_hash_file(path) if content else None)
    elif kind == "symlink":
        target = os.readlink(path)
        node = replace(node, size=len(os.fsencode(target)), target=target)
    elif kind in ("char", "block"):
        node = replace(node, rdev=(os.major(st.st_rdev), os.minor(st.st_rdev)))
    return node


def snapshot(root: str, *, mtimes: bool = False, xattrs: Sequence[str] = DEFAULT_XATTRS,
             content: bool = True, inode_tag: object = None) -> Snapshot:
    """Walk ``root`` (never following symlinks) into a Snapshot keyed ``/``, ``/a``, ``/a/b``.

    ``inode_tag`` is added to the inode keys (apply_layers uses the layer index, since
    inode numbers of different layers must not be taken for hardlinks)."""
    snap = Snapshot(os.path.abspath(root))
    st = os.lstat(root)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(root)
    snap["/"] = node_of(root, st, mtimes=mtimes, xattrs=xattrs, content=content)
    pending = [(root, "")]
    while pending:
        directory, rel = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                path = rel + "/" + entry.name
                st = entry.stat(follow_symlinks=False)
                snap[path] = node_of(entry.path, st, mtimes=mtimes, xattrs=xattrs, content=content)
                snap.inodes[path] = (inode_tag, st.st_dev, st.st_ino)
                if stat.S_ISDIR(st.st_mode):
                    pending.append((entry.path, path))
    return snap.group_hardlinks()


# ---------------------------------------------------------------------------
# differences
# ---------------------------------------------------------------------------
Ignore = Callable[[str, str, Optional[Node], Optional[Node]], bool]


def _value(node: Node, name: str) -> str:
    value = getattr(node, name)
    if name == "mode":
        return "%04o" % value
    if name == "xattrs":
        return "{%s}" % ", ".join("%s=%r" % (k, v[:40]) for k, v in value)
    if name == "link":
        return "none" if value is None else "[%s]" % " ".join(value)
    return repr(value)


def diff(a: Dict[str, Node], b: Dict[str, Node], *, ignore: Optional[Ignore] = None,
         names: Tuple[str, str] = ("A", "B"), limit: int = 200) -> List[str]:
    """Readable differences between two snapshots; ``[]`` when they are equal.

    ``ignore(path, field, node_a, node_b)`` returning True drops one difference
    (``field`` is a Node field name, or ``"path"`` for a path present on one side only).
    A path missing on one side is reported once, with the number of paths below it.
    Output is capped at ``limit`` lines (plus a count of the rest)."""
    out: List[str] = []
    missing: List[Tuple[str, str, Node]] = []
    for path in sorted(set(a) | set(b)):
        na, nb = a.get(path), b.get(path)
        if na is None or nb is None:
            if ignore is None or not ignore(path, "path", na, nb):
                missing.append((path, names[1] if na is None else names[0], nb if na is None else na))
            continue
        for name in FIELDS:
            va, vb = getattr(na, name), getattr(nb, name)
            if va == vb or (ignore is not None and ignore(path, name, na, nb)):
                continue
            if name == "link":  # compare groups by paths, readable
                out.append("~ %s: hardlinks %s: %s, %s: %s"
                           % (path, names[0], _value(na, name), names[1], _value(nb, name)))
            else:
                out.append("~ %s: %s %s != %s (%s: %s | %s: %s)" % (
                    path, name, _value(na, name), _value(nb, name),
                    names[0], na.describe(), names[1], nb.describe()))
    reported = set()
    for path, side, node in missing:
        parts = path.split("/")
        if any("/".join(parts[:i]) in reported for i in range(2, len(parts))):
            continue  # counted with its missing parent
        below = sum(1 for p, s, _ in missing if s == side and p.startswith(path + "/"))
        out.append("%s %s: only in %s (%s)%s" % ("-" if side == names[0] else "+", path, side,
                                                 node.describe(),
                                                 " and %d paths below it" % below if below else ""))
        reported.add(path)
    out.sort(key=lambda line: (line.split(" ", 2)[1].rstrip(":").split("/"), line))
    if len(out) > limit:
        out = out[:limit] + ["... and %d more differences" % (len(out) - limit)]
    return out


# ---------------------------------------------------------------------------
# merged views of layer directories
# ---------------------------------------------------------------------------
def apply_layers(layer_dirs: Sequence[str], *, mtimes: bool = False,
                 xattrs: Sequence[str] = DEFAULT_XATTRS) -> Snapshot:
    """The tree overlayfs shows for ``layer_dirs`` (bottom first) as lower dirs, computed.

    Overlay's private xattrs (``trusted.overlay.*``) are not shown in the result, as a
    real mount hides them."""
    wanted = tuple(xattrs) + ((OVERLAY_XATTR,) if xattrs and not any(
        OVERLAY_XATTR.startswith(p) for p in xattrs) else ())
    merged = Snapshot("")
    for index, layer in enumerate(layer_dirs):
        snap = snapshot(layer, mtimes=mtimes, xattrs=wanted or (OVERLAY_XATTR,), inode_tag=index)
        for path in sorted(snap, key=lambda p: (p.count("/") if p != "/" else 0, p)):
            node = snap[path]
            lower = merged.get(path)
            if node.is_whiteout:
                _drop(merged, path)
                continue
            if node.kind == "dir" and lower is not None and lower.kind == "dir" and not node.is_opaque:
                pass  # merge: the lower children stay, the upper attributes win
            else:
                _drop(merged, path)
            merged[path] = replace(_strip_overlay(node, xattrs), link=None)
            if path in snap.inodes:
                merged.inodes[path] = snap.inodes[path]
    return merged.group_hardlinks()


def _drop(snap: Snapshot, path: str) -> None:
    for p in snap.below(path) + [path]:
        snap.pop(p, None)
        snap.inodes.pop(p, None)


def _strip_overlay(node: Node, shown: Sequence[str]) -> Node:
    keep = tuple((k, v) for k, v in node.xattrs
                 if not k.startswith(OVERLAY_XATTR) and k.startswith(tuple(shown)))
    return replace(node, xattrs=keep) if keep != node.xattrs else node


@contextlib.contextmanager
def overlay_mount(layer_dirs: Sequence[str], mountpoint: Optional[str] = None) -> Iterator[str]:
    """Mount ``layer_dirs`` (bottom first, manifest order) as a read-only overlay and yield
    the mount point; unmounted (and a temporary mount point removed) on exit, whatever
    happens. One layer gets an empty directory below it: overlay wants two lowers when
    there is no upper dir."""
    if not layer_dirs:
        raise ValueError("no layers to mount")
    made = []
    if mountpoint is None:
        mountpoint = tempfile.mkdtemp(prefix="undock-merged-")
        made.append(mountpoint)
    lowers = [os.path.abspath(d) for d in layer_dirs]
    if len(lowers) == 1:
        empty = tempfile.mkdtemp(prefix="undock-empty-")
        made.append(empty)
        lowers.insert(0, empty)
    cwd = None
    option = "lowerdir=" + ":".join(reversed(lowers))
    if len(option) > _MAX_OPTIONS:
        cwd = os.path.commonpath(lowers)
        option = "lowerdir=" + ":".join(os.path.relpath(d, cwd) for d in reversed(lowers))
    for d in lowers:
        if any(c in d for c in ":,\n"):
            raise ValueError("layer path %r cannot be an overlay lowerdir" % d)
    mounted = False
    try:
        proc = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", "ro," + option,
                               os.path.abspath(mountpoint)], cwd=cwd, capture_output=True, text=True,
                              timeout=MOUNT_TIMEOUT)
        if proc.returncode != 0:
            raise OSError("overlay mount of %d layers failed: %s" % (len(layer_dirs), proc.stderr.strip()))
        mounted = True
        yield mountpoint
    finally:
        try:
            if mounted:
                unmount(mountpoint)
        finally:
            for d in reversed(made):
                shutil.rmtree(d, ignore_errors=True)


def unmount(path: str) -> None:
    """``umount PATH``; if it is busy, detach it lazily so no mount is left behind."""
    proc = subprocess.run(["umount", path], capture_output=True, text=True, timeout=MOUNT_TIMEOUT)
    if proc.returncode != 0:
        lazy = subprocess.run(["umount", "-l", path], capture_output=True, text=True, timeout=MOUNT_TIMEOUT)
        if lazy.returncode != 0:
            raise OSError("cannot unmount %s: %s %s" % (path, proc.stderr.strip(), lazy.stderr.strip()))


def mounts_below(path: str) -> List[str]:
    """Mount points at or below ``path`` (from /proc/self/mountinfo), deepest first."""
    path = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == path or point.startswith(path.rstrip("/") + "/"):
                found.append(point)
    return sorted(set(found), key=lambda p: -p.count("/"))


def unmount_all_below(path: str) -> None:
    """Unmount everything at or below ``path`` (what a peer tool may leave), deepest first."""
    for point in mounts_below(path):
        unmount(point)


def merged_snapshot(layer_dirs: Sequence[str], *, mtimes: bool = False,
                    xattrs: Sequence[str] = DEFAULT_XATTRS) -> Snapshot:
    """Snapshot of a real read-only overlay mount of ``layer_dirs`` (bottom first)."""
    with overlay_mount(layer_dirs) as merged:
        snap = snapshot(merged, mtimes=mtimes, xattrs=xattrs)
    snap.root = "overlay of %d layers" % len(layer_dirs)
    return snap
