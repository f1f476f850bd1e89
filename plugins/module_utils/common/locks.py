# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Advisory file locks: the one kind of lock the store, the layers, the mounts and the
containers take.

A lock is ``flock(2)`` on a file (or on a directory itself), what the filelock package
does on Linux too; it is made here from the standard library because importing filelock 4
costs 25-40 ms, paid by every module run, for a few lines of ``fcntl``. The kernel drops
the lock when its holder dies, so a kill -9 never leaves a store locked.

Each ``FileLock`` opens its own descriptor: two instances on one path exclude each other,
also between threads of one process, and one instance is reentrant (counted).
"""

from __future__ import annotations

import _thread  # threading.RLock() makes a _thread.RLock; importing threading costs a start ~2 ms
import fcntl
import os
import time

from .errors import UndockError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Optional

POLL = 0.05


class LockTimeout(UndockError):
    """The lock was held by someone else for longer than the caller would wait."""


class FileLock:
    def __init__(self, path: str, shared: bool = False, mode: int = 0o600):
        self.path = path
        self.shared = shared
        self.mode = mode
        self._fd: Optional[int] = None
        self._count = 0
        self._guard = _thread.RLock()

    @property
    def is_locked(self) -> bool:
        return self._count > 0

    def _open(self) -> int:
        if os.path.isdir(self.path):
            return os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, self.mode)

    def acquire(self, timeout: Optional[float] = None) -> "Held":
        """Take the lock, waiting at most ``timeout`` seconds (None: as long as it takes).
        ``with lock.acquire(timeout=0):`` releases it at the end of the block."""
        with self._guard:
            if self._count:
                self._count += 1
                return Held(self)
            fd = self._open()
            try:
                self._flock(fd, timeout)
            except BaseException:
                os.close(fd)
                raise
            self._fd, self._count = fd, 1
            return Held(self)

    def _flock(self, fd: int, timeout: Optional[float]) -> None:
        operation = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        if timeout is None:
            fcntl.flock(fd, operation)
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, operation | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout("%s is locked by another process" % self.path) from None
                time.sleep(POLL)

    def release(self) -> None:
        with self._guard:
            if not self._count:
                return
            self._count -= 1
            if self._count == 0 and self._fd is not None:
                fd, self._fd = self._fd, None
                os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class Held:
    """What ``acquire`` returns: leaving its ``with`` block releases the lock once."""

    def __init__(self, lock: FileLock):
        self.lock = lock

    def __enter__(self) -> FileLock:
        return self.lock

    def __exit__(self, *exc_info: object) -> None:
        self.lock.release()
