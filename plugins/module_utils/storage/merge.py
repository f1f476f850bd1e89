# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merged copies of layers, as an overlay would show them: the copy fallback where overlay
cannot be mounted, and the flattened base of images too deep for one overlay mount."""

from __future__ import annotations

import errno
import os
import stat

from ..common.fileutil import copy_fd
from .trees import remove_tree

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Dict, Sequence, Tuple

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPAQUE = ("trusted.overlay.opaque", "user.overlay.opaque")
_OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(fd: int) -> bool:
    for name in _OPAQUE:
        try:
            if os.getxattr(fd, name) == b"y":
                return True
        except OSError:
            continue
    return False


def _remove_at(dir_fd: int, name: str) -> None:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        remove_tree("/proc/self/fd/%d/%s" % (dir_fd, name))
    else:
        os.unlink(name, dir_fd=dir_fd)


def _copy_xattrs(src_fd: int, dst_fd: int) -> None:
    try:
        names = os.listxattr(src_fd)
    except OSError:
        return
    for name in names:
        if name.startswith(_OVERLAY_XATTR_PREFIXES):
            continue
        try:
            os.setxattr(dst_fd, name, os.getxattr(src_fd, name))
        except OSError as err:
            if err.errno not in (errno.ENOTSUP, errno.EPERM, errno.EOPNOTSUPP):
                raise


class _Merger:
    """Apply layer directories one after the other into a destination, as overlayfs shows them.

    Everything is done relative to directory descriptors opened with O_NOFOLLOW, so a
    symlink from a lower layer is replaced, never written through."""

    def __init__(self, dest_fd: int, as_root: bool, link: bool = False):
        self.dest_fd = dest_fd
        self.as_root = as_root
        self.link = link
        self.links: Dict[Tuple[int, int], str] = {}  # (dev, ino) in the layer -> path in dest

    def layer(self, src_fd: int) -> None:
        self.links = {}
        self._directory(src_fd, self.dest_fd, "")
        self._metadata(src_fd, self.dest_fd, os.fstat(src_fd))

    def _directory(self, src_fd: int, dst_fd: int, rel: str) -> None:
        if _is_opaque(src_fd):
            for name in os.listdir(dst_fd):
                _remove_at(dst_fd, name)
        with os.scandir(src_fd) as entries:
            names = sorted(entry.name for entry in entries)
        for name in names:
            st = os.stat(name, dir_fd=src_fd, follow_symlinks=False)
            path = rel + "/" + name if rel else name
            if _is_whiteout(st):
                _remove_at(dst_fd, name)
            elif stat.S_ISDIR(st.st_mode):
                self._subdirectory(src_fd, dst_fd, name, path, st)
            else:
                _remove_at(dst_fd, name)
                self._leaf(src_fd, dst_fd, name, path, st)

    def _subdirectory(self, src_fd: int, dst_fd: int, name: str, path: str, st: os.stat_result) -> None:
        try:
            existing = os.stat(name, dir_fd=dst_fd, follow_symlinks=False)
            if not stat.S_ISDIR(existing.st_mode):
                os.unlink(name, dir_fd=dst_fd)
                os.mkdir(name, 0o700, dir_fd=dst_fd)
        except FileNotFoundError:
            os.mkdir(name, 0o700, dir_fd=dst_fd)
        child_src = os.open(name, _O_DIR, dir_fd=src_fd)
        try:
            child_dst = os.open(name, _O_DIR, dir_fd=dst_fd)
            try:
                self._directory(child_src, child_dst, path)
                self._metadata(child_src, child_dst, st)
            finally:
                os.close(child_dst)
        finally:
            os.close(child_src)

    def _metadata(self, src_fd: int, dst_fd: int, st: os.stat_result) -> None:
        if self.as_root:
            os.fchown(dst_fd, st.st_uid, st.st_gid)
        os.fchmod(dst_fd, stat.S_IMODE(st.st_mode))
        _copy_xattrs(src_fd, dst_fd)
        os.utime(dst_fd, ns=(st.st_atime_ns, st.st_mtime_ns))

    def _leaf(self, src_fd: int, dst_fd: int, name: str, path: str, st: os.stat_result) -> None:
        if self.link:
            # the layer's own inode: its data, mode, owner and xattrs, shared and never written
            os.link(name, name, src_dir_fd=src_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
            return
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self.links:
            try:
                os.link(self.links[key], name, src_dir_fd=self.dest_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
                return
            except OSError:
                pass  # copy it instead
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISREG(st.st_mode):
            src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_fd)
            try:
                dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                              dir_fd=dst_fd)
                try:
                    copy_fd(src, dst, st.st_size)
                    if self.as_root:
                        os.fchown(dst, st.st_uid, st.st_gid)
                    os.fchmod(dst, mode)  # after chown, which clears setuid bits
                    _copy_xattrs(src, dst)
                    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
                finally:
                    os.close(dst)
            finally:
                os.close(src)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src_fd), name, dir_fd=dst_fd)
            if self.as_root:
                os.chown(name, st.st_uid, st.st_gid, dir_fd=dst_fd, follow_symlinks=False)
            os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst_fd, follow_symlinks=False)
            return
        else:  # device, fifo, socket
            os.mknod(name, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev, dir_fd=dst_fd)
            if self.as_root:
                os.chown(name, st.st_uid, st.st_gid, dir_fd=dst_fd, follow_symlinks=False)
            os.chmod(name, mode, dir_fd=dst_fd)
            os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst_fd, follow_symlinks=False)
        if st.st_nlink > 1:
            self.links[key] = path


def merge_layers(layer_dirs: Sequence[str], dest: str, link: bool = False) -> None:
    """Make ``dest`` (an empty directory) hold what an overlay of ``layer_dirs`` (base first,
    whiteouts in overlay form) shows: whiteouts delete, opaque directories hide what is
    below, later layers win. Files are copied, never hardlinked to the layers; hardlinks
    within a layer stay hardlinks between the copies.

    With ``link``, every non-directory is instead a hardlink to the layer's own file (a
    checkout, as ostree makes them: fast, no data copied, on the layers' filesystem only,
    ``OSError(EXDEV)`` elsewhere). Directories are still made, so removing entries of the
    checkout never touches a layer; its files must never be written in place."""
    dest_fd = os.open(dest, _O_DIR)
    try:
        merger = _Merger(dest_fd, os.geteuid() == 0, link)
        for layer in layer_dirs:
            src_fd = os.open(layer, _O_DIR)
            try:
                merger.layer(src_fd)
            finally:
                os.close(src_fd)
    finally:
        os.close(dest_fd)
