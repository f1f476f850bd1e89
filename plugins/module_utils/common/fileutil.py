# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files on disk: reads that cannot block, crash-safe writes (temp file, fsync, rename,
fsync of the directory), private directories and links."""

from __future__ import annotations

import errno
import os
import stat

from .errors import StoreError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import BinaryIO, Tuple

_KIND_NAMES = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def _kind(mode: int) -> str:
    for test, name in _KIND_NAMES:
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str, what: str = "", error: type = StoreError) -> int:
    """A read-only descriptor of the regular file ``path`` (symlinks followed).

    Opened with ``O_NONBLOCK`` so that a FIFO with no writer cannot block the open, then
    checked with ``fstat``: a FIFO, device, socket or directory raises ``error`` naming
    the file (``what``, default its path), since reading one could block forever or never
    end. ``O_NONBLOCK`` is cleared before the descriptor is returned. Other failures
    (a missing file, say) raise the usual ``OSError``.
    """
    what = what or path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except OSError as err:
        if err.errno != errno.ENXIO:  # ENXIO: what opening a unix socket says
            raise
        try:
            kind = _kind(os.stat(path).st_mode)
        except OSError:
            kind = "not a regular file"
        raise error("%s: is %s, not a regular file; refusing to read it" % (what, kind)) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error("%s: is %s, not a regular file; refusing to read it" % (what, _kind(mode)))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bounded(fd: int, limit: int) -> bytes:
    """What ``fd`` holds from its offset to its end, but at most ``limit`` bytes."""
    chunks = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def open_regular_file(path: str, what: str = "", error: type = StoreError) -> BinaryIO:
    """``open_regular`` as a binary file object."""
    return os.fdopen(open_regular(path, what, error), "rb")


def copy_fd(src: int, dst: int, size: int | None = None) -> None:
    """Copy ``size`` bytes (by default the source's size when called, so a file that keeps
    growing cannot hold the copy) from descriptor ``src`` to ``dst``, both at offset 0: in the
    kernel where the filesystem allows (copy_file_range, a reflink on btrfs/xfs), by reads and
    full writes elsewhere."""
    if size is None:
        size = os.fstat(src).st_size
    copied = 0
    try:
        while copied < size:
            count = os.copy_file_range(src, dst, min(size - copied, 1 << 30))
            if count == 0:
                break
            copied += count
        return
    except (AttributeError, OSError):
        os.lseek(src, 0, os.SEEK_SET)
        os.lseek(dst, 0, os.SEEK_SET)
        os.ftruncate(dst, 0)
    left = size
    while left > 0:
        chunk = os.read(src, min(left, 1 << 20))
        if not chunk:
            return
        left -= len(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst, view):]


def copy_fd_to_new(src: int, path: str, dir_fd: int | None = None) -> None:
    """A new file at ``path`` (mode 0600 until the caller sets it; never through a link, never
    over an existing file) with the content of descriptor ``src``."""
    dst = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    try:
        copy_fd(src, dst)
    finally:
        os.close(dst)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def makedirs_private(path: str, mode: int = 0o700) -> None:
    """Create ``path`` and missing parents with ``mode``; an existing dir keeps its mode."""
    os.makedirs(path, mode=mode, exist_ok=True)


def point_symlink(path: str, target: str) -> None:
    """Make ``path`` a symlink to ``target``, replacing a link that points elsewhere."""
    try:
        if os.readlink(path) == target:
            return
        os.unlink(path)
    except FileNotFoundError:
        pass
    os.symlink(target, path)


def _new_temp(directory: str) -> Tuple[int, str]:
    """A new empty file ``.tmp-RANDOM`` (0600) in ``directory``, open for writing: what
    tempfile.mkstemp does, without importing tempfile and random on every run."""
    for dummy in range(100):
        path = os.path.join(directory, ".tmp-" + os.urandom(6).hex())
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", directory)


def _synced_temp(directory: str, data: bytes, mode: int, sync: bool = True) -> str:
    """A new temp file in ``directory`` holding ``data`` (on disk, fsynced, if ``sync``), with ``mode``."""
    fd, tmp = _new_temp(directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def atomic_write(path: str, data: bytes, mode: int = 0o600, tmp_dir: str | None = None, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never a part.

    ``durable=False`` skips the fsyncs, for files of the runtime root: it is volatile (tmpfs)
    by design, nothing in it has to outlive a power loss, and the rename alone already keeps
    readers (and a crash of this process) from seeing a partly written file."""
    directory = os.path.dirname(path) or "."
    tmp = _synced_temp(tmp_dir or directory, data, mode, sync=durable)
    try:
        os.rename(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    if durable:
        fsync_dir(directory)


def create_exclusive(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write a new file at ``path`` whole, or fail with FileExistsError: never replaces one.

    The data goes to a temp file first and is hard-linked into place, so ``path`` never exists
    half-written and a concurrent writer of the same path loses instead of overwriting."""
    directory = os.path.dirname(path) or "."
    tmp = _synced_temp(directory, data, mode)
    try:
        os.link(tmp, path)
    finally:
        os.unlink(tmp)
    fsync_dir(directory)
