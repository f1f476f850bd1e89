# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mounting and unmounting: an overlay through mount(2) itself (libc's, by ctypes), the rest,
and an overlay where ctypes or libc's ``mount`` is missing, through util-linux ``mount(8)``
and ``umount(8)``, bounded in time.

The lower directories come relative to ``cwd`` (storage.mounts: short links, so that many
layers fit in the page of options the kernel copies). mount(2) is given them absolute when
that still fits in the page; otherwise a forked child changes to ``cwd`` and mounts, as
mount(8) run there would, and the engine's own cwd never changes under its other threads."""

from __future__ import annotations

import errno
import os

from ..common.libc import last_errno, libc_function
from ..common.tools import find_tool
from .mount_records import MountError, mount_entry

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Callable, List, Optional, Sequence

MOUNT_TIMEOUT = 120
MS_RDONLY, MS_NOSUID, MS_NODEV = 1, 2, 4


def _tool(name: str) -> str:
    found = find_tool(name)
    if not found:
        raise MountError("the %s command (util-linux) is needed to mount image filesystems" % name)
    return found


def _run(argv: List[str], cwd: Optional[str] = None) -> None:
    import subprocess  # here: see _tool
    env = dict(os.environ, LC_ALL="C", LANG="C")
    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=MOUNT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise MountError("%s failed: %s" % (" ".join(argv[:2]), err))
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip()
        command = " ".join([os.path.basename(argv[0])] + argv[1:4])
        raise MountError("%s failed (exit %d): %s" % (command, proc.returncode, message))


def mount_overlay(target: str, lowers: Sequence[str], cwd: str, *, read_only: bool, nodev_nosuid: bool,
                  upper_dir: Optional[str] = None, work_dir: Optional[str] = None) -> None:
    """Mount an overlay of ``lowers`` (topmost first, relative to ``cwd`` or absolute) at ``target``."""
    flags = ["ro"] if read_only and not upper_dir else []
    if nodev_nosuid:
        flags += ["nodev", "nosuid"]
    data = overlay_data(lowers, upper_dir, work_dir)
    syscall = libc_function("mount")
    if syscall is None:
        _run([_tool("mount"), "-t", "overlay", "overlay", "-o", ",".join(flags + [data]), target], cwd=cwd)
        return
    bits = (MS_RDONLY if flags[:1] == ["ro"] else 0) | (MS_NODEV | MS_NOSUID if nodev_nosuid else 0)
    # what mount(8) run in cwd would see: every relative path from cwd
    target = os.path.join(cwd, target)
    upper_dir, work_dir = (os.path.join(cwd, upper_dir), os.path.join(cwd, work_dir)) if upper_dir else (None, None)
    absolute = os.fsencode(overlay_data([os.path.join(cwd, lower) for lower in lowers], upper_dir, work_dir))
    if len(absolute) < os.sysconf("SC_PAGE_SIZE"):  # the kernel copies one page, NUL included
        error = _mount(syscall, target, absolute, bits)
    else:
        error = _mount_in(cwd, syscall, target, os.fsencode(overlay_data(lowers, upper_dir, work_dir)), bits)
    if error:
        raise MountError("mount -t overlay overlay %s failed: %s (%s, options %s)"
                         % (target, os.strerror(error), errno.errorcode.get(error, error), ",".join(flags + [data])))


def _mount(syscall: Callable[..., int], target: str, data: bytes, bits: int) -> int:
    """mount(2) of an overlay: 0, or the errno."""
    if syscall(b"overlay", os.fsencode(target), b"overlay", bits, data) == 0:
        return 0
    return last_errno() or errno.EIO


def _mount_in(cwd: str, syscall: Callable[..., int], target: str, data: bytes, bits: int) -> int:
    """_mount from ``cwd``, in a child: its exit status is the errno (0 when mounted)."""
    pid = os.fork()
    if pid == 0:  # nothing but system calls here, until the exit
        code = errno.EIO
        try:
            os.chdir(cwd)
            code = _mount(syscall, target, data, bits)
        except OSError as err:
            code = err.errno or errno.EIO
        finally:
            os._exit(min(code, 255))  # pylint: disable=protected-access
    status = os.waitpid(pid, 0)[1]
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else errno.EINTR


def overlay_data(lowers: Sequence[str], upper_dir: Optional[str] = None, work_dir: Optional[str] = None) -> str:
    """The filesystem-specific options string the kernel receives (must fit in a page)."""
    data = "lowerdir=" + ":".join(lowers)
    if upper_dir:
        data += ",upperdir=%s,workdir=%s" % (upper_dir, work_dir)
    return data


def bind_mount(source: str, target: str, *, read_only: bool, nodev_nosuid: bool) -> None:
    flags = (["ro"] if read_only else []) + (["nodev", "nosuid"] if nodev_nosuid else [])
    argv = [_tool("mount"), "--bind"] + (["-o", ",".join(flags)] if flags else []) + [source, target]
    _run(argv)
    entry = mount_entry(target)
    if entry is not None and read_only and "ro" not in entry["options"]:
        # old util-linux: a bind mount ignores ro until remounted
        _run([_tool("mount"), "-o", "remount,bind," + ",".join(flags), target])


def umount(target: str, lazy: bool = False) -> None:
    _run([_tool("umount")] + (["-l"] if lazy else []) + [target])
