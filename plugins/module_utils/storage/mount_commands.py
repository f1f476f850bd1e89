# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mounting and unmounting through util-linux ``mount(8)`` and ``umount(8)``, bounded in time."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import List, Optional, Sequence

from .mount_records import MountError, mount_entry

MOUNT_TIMEOUT = 120


def _tool(name: str) -> str:
    found = shutil.which(name) or next((p for p in ("/usr/bin/" + name, "/bin/" + name) if os.path.exists(p)), None)
    if not found:
        raise MountError("the %s command (util-linux) is needed to mount image filesystems" % name)
    return found


def _run(argv: List[str], cwd: Optional[str] = None) -> None:
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
    flags = ["ro"] if read_only and not upper_dir else []
    if nodev_nosuid:
        flags += ["nodev", "nosuid"]
    argv = [_tool("mount"), "-t", "overlay", "overlay", "-o", ",".join(flags + [overlay_data(lowers, upper_dir, work_dir)]),
            target]
    _run(argv, cwd=cwd)


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
