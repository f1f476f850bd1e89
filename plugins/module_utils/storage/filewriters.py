# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Worker threads that create and fill the small regular files of a layer."""

from __future__ import annotations

import collections
import os
import threading

from .entry_errors import bad, os_error

JOB_MAX = 1024 * 1024          # larger files are written by the main thread
_JOB_OVERHEAD = 512             # bytes counted per queued job besides its data
_INFLIGHT_BYTES = 8 * 1024 * 1024
_O_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def write_all(fd: int, view) -> None:
    """Write all of ``view`` (os.write may write less)."""
    while view:
        view = view[os.write(fd, view):]


class FileWriters:
    """Worker threads that create and fill small regular files, in parallel with the main thread.

    The main thread parses the stream in order, resolves and creates the parent
    directories (``dirfd``: component by component, ``O_NOFOLLOW``) and reads the
    file's data (a copy, at most ``JOB_MAX`` bytes). A job is a ``dup`` of the
    parent's descriptor (so evicting or dropping cached descriptors never closes one
    a job uses), the base name, the data and the attributes; the worker does
    ``openat(O_CREAT|O_EXCL|O_NOFOLLOW)``, ``write``, ``fchown``, ``fchmod``,
    ``futimens``, ``close``, all of which release the GIL. An existing non-directory
    of that name (which only an already finished operation can have made) is
    unlinked, as ``_make_room`` would; a name that may be a directory is never
    handed to a worker.

    Ordering: ``pending`` counts the queued jobs per name. Before the main thread
    touches a name with a pending job (any entry of that name, a hardlink to it, a
    whiteout of it, a missing directory component of that name) it waits for that
    name (``wait_name``); before removing a directory tree it waits for all jobs.
    Queued data is bounded by ``_INFLIGHT_BYTES`` and descriptors by ``max_jobs``.
    The first error (named after its entry) is kept and raised by the main thread
    at its next submission or at ``finish``.
    """

    def __init__(self, count: int, root: bool, skip_zero_chown: bool, max_jobs: int):
        self._count = count
        self._max_jobs = max_jobs
        self._root = root
        self._skip_zero_chown = skip_zero_chown
        lock = threading.Lock()
        self._work = threading.Condition(lock)
        self._space = threading.Condition(lock)
        self._jobs = collections.deque()
        self._bytes = 0
        self._closing = False
        self._abort = False
        self._threads = []
        self.pending = {}
        self.error = None

    def submit(self, pfd: int, rel: bytes, base: bytes, name: bytes, data: bytes, mode: int,
               uid: int, gid: int, mtime: int) -> None:
        """Queue the creation of ``base`` in the directory ``pfd`` (which is dup'ed)."""
        cost = len(data) + _JOB_OVERHEAD
        pending = self.pending
        with self._space:
            while pending and self.error is None and (
                    len(self._jobs) >= self._max_jobs or self._bytes + cost > _INFLIGHT_BYTES):
                self._space.wait()
            error = self.error
            if error is None:
                fd = os.dup(pfd)
                self._jobs.append((fd, rel, base, name, data, mode, uid, gid, mtime))
                pending[rel] = pending.get(rel, 0) + 1
                self._bytes += cost
                self._work.notify()
        if error is not None:
            raise error
        if not self._threads:
            for dummy in range(self._count):
                thread = threading.Thread(target=self._run, name="undock-layer-writer", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _run(self) -> None:
        jobs = self._jobs
        pending = self.pending
        while True:
            with self._work:
                while not jobs and not self._closing:
                    self._work.wait()
                if not jobs:
                    return
                job = jobs.popleft()
                skip = self._abort or self.error is not None
            pfd, rel, name, data = job[0], job[1], job[3], job[4]
            error = None
            try:
                try:
                    if not skip:
                        self._create(job)
                finally:
                    os.close(pfd)
            except OSError as err:
                error = os_error(name, err)
            except (OverflowError, ValueError) as err:
                error = bad(name, str(err))
            except Exception as err:  # pylint: disable=broad-except
                error = err
            with self._space:
                count = pending[rel] - 1
                if count:
                    pending[rel] = count
                else:
                    del pending[rel]
                self._bytes -= len(data) + _JOB_OVERHEAD
                if error is not None and self.error is None:
                    self.error = error
                self._space.notify_all()

    def _create(self, job) -> None:
        pfd, dummy, base, name, data, mode, uid, gid, mtime = job
        try:
            fd = os.open(base, _O_FILE, 0o600, dir_fd=pfd)
        except FileExistsError:
            os.unlink(base, dir_fd=pfd)  # a non-directory: the main thread keeps directories
            fd = os.open(base, _O_FILE, 0o600, dir_fd=pfd)
        try:
            if data:
                done = os.write(fd, data)
                if done < len(data):
                    write_all(fd, memoryview(data)[done:])
            if uid or gid or not self._skip_zero_chown:
                try:
                    os.fchown(fd, uid, gid)
                except PermissionError:
                    if self._root:
                        raise
                except OverflowError:
                    raise bad(name, "uid/gid %d:%d out of range" % (uid, gid)) from None
            os.fchmod(fd, mode)
            os.utime(fd, ns=(mtime, mtime))
        finally:
            os.close(fd)

    def wait_name(self, rel: bytes) -> None:
        """Wait until no job for ``rel`` is queued or running."""
        pending = self.pending
        with self._space:
            while rel in pending:
                self._space.wait()

    def wait(self) -> None:
        """Wait until every queued job is done (or skipped after an error)."""
        pending = self.pending
        with self._space:
            while pending:
                self._space.wait()

    def finish(self) -> None:
        """Wait for every job; raise the first error of a worker."""
        self.wait()
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Stop the workers (jobs still queued are dropped) and join them."""
        with self._work:
            self._closing = True
            self._abort = True
            self._work.notify_all()
        for thread in self._threads:
            thread.join()
        self._threads = []
        while self._jobs:  # no worker ever started
            os.close(self._jobs.popleft()[0])
        self.pending.clear()
