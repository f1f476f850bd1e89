# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Removing whole trees without ever following a symlink, whatever their modes."""

from __future__ import annotations

import os
import stat

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def rmtree_at(parent_fd: int, name, root: bool = True) -> None:
    """Remove ``name`` (relative to ``parent_fd``) and everything below it.

    Iterative, descriptor-based, never follows symlinks; directories that deny
    access (mode 000) are made accessible first. Depth is bounded only by the
    number of descriptors the process may open.
    """
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=parent_fd)
        return
    stack = [(parent_fd, name, _open_for_removal(parent_fd, name, root))]
    try:
        while stack:
            pfd, dname, fd = stack[-1]
            child = None
            with os.scandir(fd) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        child = entry.name
                        break
                    try:
                        os.unlink(entry.name, dir_fd=fd)
                    except FileNotFoundError:
                        pass
            if child is not None:
                stack.append((fd, child, _open_for_removal(fd, child, root)))
                continue
            stack.pop()
            os.close(fd)
            os.rmdir(dname, dir_fd=pfd)
    finally:
        for _pfd, _dname, fd in stack:
            os.close(fd)


def _open_for_removal(pfd: int, name, root: bool) -> int:
    try:
        fd = os.open(name, _O_DIR, dir_fd=pfd)
    except PermissionError:
        os.chmod(name, 0o700, dir_fd=pfd)
        fd = os.open(name, _O_DIR, dir_fd=pfd)
    if not root:
        os.fchmod(fd, 0o700)  # we need write and search permission to empty it
    return fd


def remove_tree(path: str) -> None:
    """Remove ``path`` (a file, a symlink or a whole tree) without following symlinks.

    Handles directories with restrictive modes (0000) and missing paths. Used by
    callers to discard a failed unpack.
    """
    path = os.path.abspath(path)
    parent, name = os.path.split(path)
    if not name:
        raise ValueError("refusing to remove %r" % path)
    pfd = os.open(parent or "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        rmtree_at(pfd, name, os.geteuid() == 0)
    finally:
        os.close(pfd)
