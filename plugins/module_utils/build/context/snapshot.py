# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A snapshot of a build context directory: what a build may copy from it.

The context is user input and may hold anything: symlinks to ``/etc/shadow`` or to
``../../..``, link chains and loops, FIFOs that block whoever opens them, devices, bind
mounts that loop. The walk therefore:

- opens every directory from a descriptor of its parent with ``O_NOFOLLOW``
  (``storage.rootfs.open_dir_at``), so it never enters a symlink, and a directory swapped
  for a symlink during the walk fails instead of leading out;
- records a symlink as a symlink (its target as text) and never resolves through it: a
  COPY source path is resolved later, inside the snapshot, with the rules of
  ``storage/rootfs.py`` (an absolute target restarts at the context root, ``..`` stops
  there, at most 40 links per path), so no link can name anything outside the context;
- never opens a FIFO, socket or device: they are left out and listed in ``skipped`` with
  the reason (a COPY that names one fails with that reason);
- is bounded: at most ``MAX_ENTRIES`` entries, ``MAX_DEPTH`` levels, and a directory met
  again below itself (a bind-mount loop) is an error.

Excluded entries (ignore file) are not recorded; an excluded directory is entered only
when an exception may re-include something below it, and is then recorded only if
something below it is. Regular files are read (for their digest, or to copy them) through
``open_file``, which walks the same way and checks that the file is still the one seen.
A file's digest may instead come from an earlier build (``stat_cache.py``) when its stat
is still the one it was hashed with.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections import deque

from ...storage.rootfs import MAX_SYMLINKS, SymlinkInPathError, open_dir_at
from .errors import ContextError
from .ignore import IgnoreRules, load_ignore_rules

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Dict, Iterator, List, Optional, Set, Tuple
    from .ignore import Matches

MAX_ENTRIES = 1000000
MAX_DEPTH = 256

DIR = "dir"
FILE = "file"
SYMLINK = "symlink"

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)


class Entry:
    """One file, directory or symlink of the context, by its slash-separated path (``.`` the root)."""

    __slots__ = ("path", "kind", "mode", "uid", "gid", "size", "target", "dev", "ino", "mtime_ns", "ctime_ns")

    def __init__(self, path: str, kind: str, st: os.stat_result, target: Optional[str] = None):
        self.path = path
        self.kind = kind
        self.mode = stat.S_IMODE(st.st_mode)
        self.uid = st.st_uid
        self.gid = st.st_gid
        self.size = st.st_size if kind == FILE else 0
        self.target = target
        self.dev = st.st_dev
        self.ino = st.st_ino
        self.mtime_ns = st.st_mtime_ns
        self.ctime_ns = st.st_ctime_ns

    def __repr__(self) -> str:
        return "Entry(%r, %s, %o)" % (self.path, self.kind, self.mode)


def _special_kind(mode: int) -> Optional[str]:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return None


def _join(parent: str, name: str) -> str:
    return name if parent == "." else parent + "/" + name


class Snapshot:
    """The entries of a context: ``entries`` by path, ``children`` of each directory (sorted)."""

    def __init__(self, root: str, rules: IgnoreRules):
        self.root = root
        self.rules = rules
        self.entries: Dict[str, Entry] = {}
        self.children: Dict[str, List[str]] = {}
        self.skipped: Dict[str, str] = {}  # path -> why it is not in the snapshot
        self._digests: Dict[str, str] = {}
        self.stable: Set[str] = set()  # paths whose digest was read from a file whose stat stayed the walk's
        self.taken_ns = time.time_ns()  # when the walk began (stat_cache: a file changed since may share its times)
        self.excluded_dirs: List[str] = []  # excluded, kept for what an exception re-includes below

    def walk(self, path: str = ".") -> Iterator[Entry]:
        """The entries below directory ``path`` (not itself), parents before children, sorted."""
        todo = deque([path])
        while todo:
            current = todo.pop()
            names = self.children.get(current, [])
            for name in reversed(names):
                todo.append(_join(current, name))
            if current != path:
                yield self.entries[current]

    def resolve(self, path: str, follow_last: bool = True) -> Optional[str]:
        """The snapshot path that ``path`` names, symlinks resolved inside the context.

        None when nothing of that name is in the snapshot (missing, excluded or skipped).
        """
        parts = deque(path.split("/"))
        current: List[str] = []
        hops = 0
        while parts:
            name = parts.popleft()
            if name in ("", "."):
                continue
            if name == "..":
                if current:
                    current.pop()
                continue
            candidate = "/".join(current + [name])
            entry = self.entries.get(candidate)
            if entry is None:
                return None
            last = all(p in ("", ".") for p in parts)
            if entry.kind == SYMLINK and (follow_last or not last):
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise ContextError("%s: too many levels of symbolic links in the build context" % path)
                target = entry.target or ""
                if target.startswith("/"):
                    current = []
                parts.extendleft(reversed(target.split("/")))
                continue
            if entry.kind != DIR and not last:
                return None
            current.append(name)
        return "/".join(current) if current else "."

    def open_file(self, entry: Entry) -> int:
        """A read-only descriptor of the regular file ``entry``, checked to be the one walked."""
        if entry.kind != FILE:
            raise ContextError("%s in the build context is not a regular file" % entry.path)
        parts = entry.path.split("/")
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for name in parts[:-1]:
                next_fd = open_dir_at(fd, name, _O_DIR)
                os.close(fd)
                fd = next_fd
            file_fd = os.open(parts[-1], _O_FILE, dir_fd=fd)
        except OSError as err:
            raise ContextError("%s in the build context changed while the build read it: %s"
                               % (entry.path, err.strerror or err)) from None
        finally:
            os.close(fd)
        st = os.fstat(file_fd)
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (entry.dev, entry.ino):
            os.close(file_fd)
            raise ContextError("%s in the build context changed while the build read it" % entry.path)
        os.set_blocking(file_fd, True)
        return file_fd

    def file_sha256(self, entry: Entry) -> str:
        """The hex sha256 of a regular file's content (read once, then remembered)."""
        known = self._digests.get(entry.path)
        if known is not None:
            return known
        fd = self.open_file(entry)
        digest = hashlib.sha256()
        size = 0
        try:
            while True:
                chunk = os.read(fd, 1024 * 1024)
                if not chunk:
                    break
                size += len(chunk)
                digest.update(chunk)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if size != entry.size:
            raise ContextError("%s in the build context changed while the build read it (size %d, then %d)"
                               % (entry.path, entry.size, size))
        if (st.st_size, st.st_mtime_ns, st.st_ctime_ns) == (entry.size, entry.mtime_ns, entry.ctime_ns):
            self.stable.add(entry.path)
        self._digests[entry.path] = digest.hexdigest()
        return self._digests[entry.path]

    def known(self, path: str) -> Optional[str]:
        """The digest of file ``path`` if it is known already (read, or given), else None."""
        return self._digests.get(path)

    def known_digest(self, path: str, sha256_hex: str) -> None:
        """Take ``sha256_hex`` as the digest of file ``path``, whose stat is the walk's, without
        reading it (stat_cache.py decides when that is right)."""
        self._digests[path] = sha256_hex
        self.stable.add(path)


class _Dir:
    __slots__ = ("path", "fd", "names", "matches", "ident")

    def __init__(self, path: str, fd: int, matches: Optional[Matches], ident: Tuple[int, int]):
        self.path = path
        self.fd = fd
        self.names = deque(sorted(os.listdir(fd)))
        self.matches = matches
        self.ident = ident


def take_snapshot(context_dir: str, rules: Optional[IgnoreRules] = None) -> Snapshot:
    """Walk the context directory ``context_dir`` (the caller's path: it may be a symlink)."""
    rules = rules if rules is not None else IgnoreRules()
    root = os.path.abspath(context_dir)
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise ContextError("build context %s: %s" % (context_dir, err.strerror or err)) from None
    snapshot = Snapshot(root, rules)
    st = os.fstat(root_fd)
    snapshot.entries["."] = Entry(".", DIR, st)
    snapshot.children["."] = []
    stack = [_Dir(".", root_fd, None, (st.st_dev, st.st_ino))]
    try:
        _walk(snapshot, stack)
    except OSError as err:
        raise ContextError("build context %s: %s: %s" % (context_dir, err.filename or "", err.strerror or err)) from None
    finally:
        for frame in stack:
            os.close(frame.fd)
    _drop_empty_excluded(snapshot)
    return snapshot


def _walk(snapshot: Snapshot, stack: List[_Dir]) -> None:
    count = 1
    while stack:
        frame = stack[-1]
        if not frame.names:
            os.close(frame.fd)
            stack.pop()
            continue
        name = frame.names.popleft()
        path = _join(frame.path, name)
        try:
            entry = _visit(snapshot, stack, name, path)
        except OSError as err:
            raise ContextError("build context %s: %s: %s" % (snapshot.root, path, err.strerror or err)) from None
        if entry is None:
            continue
        count += 1
        if count > MAX_ENTRIES:
            raise ContextError("build context %s has more than %d entries" % (snapshot.root, MAX_ENTRIES))
        snapshot.entries[path] = entry
        snapshot.children[frame.path].append(name)


def _visit(snapshot: Snapshot, stack: List[_Dir], name: str, path: str) -> Optional[Entry]:
    """The entry for ``name`` in the directory on top of ``stack`` (a directory is pushed), or None."""
    frame = stack[-1]
    excluded, matches = snapshot.rules.evaluate(path, frame.matches) if snapshot.rules else (False, None)
    try:
        st = os.stat(name, dir_fd=frame.fd, follow_symlinks=False)
    except FileNotFoundError:
        return None  # removed since the listing
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        if excluded and not snapshot.rules.may_include_below(path):
            return None
        if len(stack) >= MAX_DEPTH:
            raise ContextError("build context: %s is more than %d directories deep" % (path, MAX_DEPTH))
        ident = (st.st_dev, st.st_ino)
        if any(f.ident == ident for f in stack):
            raise ContextError("build context: %s is a directory that contains itself (a bind-mount loop)" % path)
        try:
            fd = open_dir_at(frame.fd, name, _O_DIR)
        except SymlinkInPathError:
            raise ContextError("build context: %s was replaced by a symlink during the walk" % path) from None
        try:
            stack.append(_Dir(path, fd, matches, ident))
        except BaseException:
            os.close(fd)
            raise
        snapshot.children[path] = []
        if excluded:
            snapshot.excluded_dirs.append(path)
        return Entry(path, DIR, st)
    if excluded:
        return None
    if stat.S_ISLNK(mode):
        return Entry(path, SYMLINK, st, os.readlink(name, dir_fd=frame.fd))
    if stat.S_ISREG(mode):
        return Entry(path, FILE, st)
    snapshot.skipped[path] = "%s is %s: only files, directories and symlinks are copied" % (
        path, _special_kind(mode) or "of an unknown type")
    return None


def _drop_empty_excluded(snapshot: Snapshot) -> None:
    """Excluded directories entered for their exceptions stay only if something below them did."""
    kept = []
    for path in reversed(snapshot.excluded_dirs):  # children before parents
        if snapshot.children.get(path):
            kept.append(path)
            continue
        del snapshot.entries[path]
        del snapshot.children[path]
        parent, dummy, name = path.rpartition("/")
        snapshot.children[parent or "."].remove(name)
    snapshot.excluded_dirs = kept[::-1]


def open_context(context_dir: str, dockerfile: Optional[str] = None) -> Snapshot:
    """The snapshot of ``context_dir`` with the ignore file that applies (see ignore.py)."""
    return take_snapshot(context_dir, load_ignore_rules(context_dir, dockerfile))
