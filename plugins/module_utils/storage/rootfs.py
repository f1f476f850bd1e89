# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Paths inside an image rootfs, resolved the way a process chrooted there would see them.

A rootfs is hostile input: any component of a path may be a symlink, and a symlink may
point anywhere (``/etc/passwd -> /host/etc/shadow``, ``lib -> ../../..``, loops). Every
function here resolves one component at a time from a descriptor of the root, never
letting the kernel follow a link (``O_NOFOLLOW`` on every open): a symlink is read with
``readlink`` and interpreted *relative to the rootfs*: an absolute target restarts at the
rootfs root, and ``..`` never climbs above it (as securejoin, or ``openat2`` with
``RESOLVE_IN_ROOT``, do). At most ``MAX_SYMLINKS`` links are followed per path; more is
``ELOOP``. Nothing outside the rootfs is ever opened, whatever the tree holds.

``open_in_root(root, path, flags)``
    A descriptor of ``path``, opened with ``flags`` (``O_CREAT`` creates the final
    component inside the rootfs, even through a dangling in-root symlink; ``O_NOFOLLOW``
    refuses a final symlink with ``ELOOP``). Race-free: a component swapped for a
    symlink after it was checked makes the open fail, never escape.
``read_file_in_root(root, path, limit)``
    The bytes of a regular file (``/etc/passwd``, a package database), at most
    ``limit``; a FIFO, device or socket is refused without being opened, a directory is
    ``IsADirectoryError``.
``resolve_in_root(root, path)``
    The host path ``path`` resolves to, inside the rootfs; components that do not exist
    are kept as named (``..`` among them resolved lexically). The answer is only as good
    as the moment it was computed; act on the tree with ``open_in_root``.
``open_dir_at(dir_fd, name)``
    The single step: a directory ``name`` of ``dir_fd``, a symlink never followed
    (``SymlinkInPathError``), a non-directory ``NotADirectoryError``.

``root`` is a path (the caller's, trusted: it may be a symlink) or a descriptor of the
rootfs directory; only what is below it is hostile. Errors are ``OSError``
(``ENOENT``, ``ENOTDIR``, ``ELOOP``...), for the caller to turn into its own message.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import deque

from ..common.fileutil import read_bounded

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import List, Optional, Tuple, Union

MAX_SYMLINKS = 40          # as Linux's own limit for one path lookup
MAX_COMPONENTS = 65536     # after symlink expansion: bounds the work a hostile tree can cause

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_WALK = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

if TYPE_CHECKING:
    Root = Union[str, int]


class SymlinkInPathError(OSError):
    """A component that was to be entered as a directory is a symlink."""

    def __init__(self, name: str):
        super().__init__(errno.ELOOP, "is a symlink", name)


def open_dir_at(dir_fd: int, name, flags: int = _O_DIR) -> int:
    """Open directory ``name`` of ``dir_fd`` without following a symlink.

    Raises ``SymlinkInPathError`` for a symlink, ``NotADirectoryError`` for any other
    non-directory and ``FileNotFoundError`` when there is nothing of that name.
    """
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as err:
        if err.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        try:
            is_link = stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
        except OSError:
            is_link = False
        if is_link:
            raise SymlinkInPathError(name if isinstance(name, str) else name.decode("utf-8", "replace")) from None
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", name) from None


def _root_fd(root: Root) -> int:
    if isinstance(root, int):
        return os.dup(root)
    return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # the caller's own path: trusted


def _resolve(root_fd: int, path: str, follow_last: bool,
             missing_ok: bool) -> Tuple[List[int], List[str], Optional[str], List[str]]:
    """Walk ``path`` from ``root_fd``.

    Returns ``(fds, names, last, missing)``: descriptors of the directories entered
    (``fds[0]`` a dup of the root; the caller closes them all), their names, the final
    component when it was not entered (a non-directory, something absent, or a symlink
    not to be followed) and, with ``missing_ok``, the components below the first one
    that does not exist (lexically resolved).
    """
    parts = deque(path.split("/"))
    fds = [os.dup(root_fd)]
    names: List[str] = []
    missing: List[str] = []
    hops = steps = 0
    try:
        while parts:
            name = parts.popleft()
            steps += 1
            if steps > MAX_COMPONENTS:
                raise OSError(errno.ENAMETOOLONG, "too many path components after symlinks", path)
            if name in ("", "."):
                continue
            if missing:
                if name == "..":
                    missing.pop()
                else:
                    missing.append(name)
                continue
            if name == "..":
                if len(fds) > 1:
                    os.close(fds.pop())
                    names.pop()
                continue
            last = all(p in ("", ".") for p in parts)
            if last and not follow_last:
                return fds, names, name, missing
            try:
                fd = open_dir_at(fds[-1], name, _O_WALK)
            except SymlinkInPathError:
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", path) from None
                target = os.readlink(name, dir_fd=fds[-1])
                if target.startswith("/"):
                    while len(fds) > 1:
                        os.close(fds.pop())
                    del names[:]
                parts.extendleft(reversed(target.split("/")))
                continue
            except NotADirectoryError:
                if last:
                    return fds, names, name, missing
                raise
            except FileNotFoundError:
                if missing_ok:
                    missing.append(name)
                    continue
                if last:
                    return fds, names, name, missing
                raise
            fds.append(fd)
            names.append(name)
        return fds, names, None, missing
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def open_in_root(root: Root, path: str, flags: int = os.O_RDONLY, mode: int = 0o666) -> int:
    """A descriptor of ``path`` inside the rootfs ``root``, opened with ``flags``."""
    root_fd = _root_fd(root)
    try:
        fds, dummy, last, dummy2 = _resolve(root_fd, path, not flags & os.O_NOFOLLOW, False)
    finally:
        os.close(root_fd)
    try:
        if last is None:  # a directory (the root itself, perhaps)
            if flags & os.O_CREAT and flags & os.O_EXCL:
                raise FileExistsError(errno.EEXIST, "exists", path)
            return os.open(".", (flags & ~os.O_CREAT) | os.O_CLOEXEC, dir_fd=fds[-1])
        return os.open(last, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=fds[-1])
    finally:
        for fd in fds:
            os.close(fd)


def read_file_in_root(root: Root, path: str, limit: int) -> bytes:
    """At most ``limit`` bytes of the regular file ``path`` inside the rootfs ``root``."""
    root_fd = _root_fd(root)
    try:
        fds, dummy, last, dummy2 = _resolve(root_fd, path, True, False)
    finally:
        os.close(root_fd)
    try:
        if last is None:
            raise IsADirectoryError(errno.EISDIR, "is a directory", path)
        st = os.stat(last, dir_fd=fds[-1], follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):  # refused before opening: opening a device can act
            raise OSError(errno.EINVAL, "not a regular file", path)
        fd = os.open(last, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC,
                     dir_fd=fds[-1])
    finally:
        for dir_fd in fds:
            os.close(dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the lstat
            raise OSError(errno.EINVAL, "not a regular file", path)
        return read_bounded(fd, limit)
    finally:
        os.close(fd)


def resolve_in_root(root: str, path: str) -> str:
    """The host path of ``path`` inside the rootfs ``root`` (see the module docstring)."""
    root = os.path.abspath(root)
    root_fd = _root_fd(root)
    try:
        fds, names, last, missing = _resolve(root_fd, path, True, True)
    finally:
        os.close(root_fd)
    for fd in fds:
        os.close(fd)
    parts = names + ([last] if last is not None else []) + missing
    return os.path.join(root, *parts) if parts else root
