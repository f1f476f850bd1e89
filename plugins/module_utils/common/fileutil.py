# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Crash-safe file writes: temp file, fsync, rename, fsync of the directory."""

from __future__ import annotations

import os
import tempfile


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def makedirs_private(path: str, mode: int = 0o700) -> None:
    """Create ``path`` and missing parents with ``mode``; an existing dir keeps its mode."""
    os.makedirs(path, mode=mode, exist_ok=True)


def atomic_write(path: str, data: bytes, mode: int = 0o600, tmp_dir: str | None = None) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never a part."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=tmp_dir or directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(directory)


def create_exclusive(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write a new file at ``path`` whole, or fail with FileExistsError: never replaces one.

    The data goes to a temp file first and is hard-linked into place, so ``path`` never exists
    half-written and a concurrent writer of the same path loses instead of overwriting."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.link(tmp, path)
    finally:
        os.unlink(tmp)
    fsync_dir(directory)
