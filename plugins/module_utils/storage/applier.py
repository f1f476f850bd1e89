# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply the entries of a layer's tar stream (``tarreader``) into an empty directory.

Path safety (what is guaranteed)
--------------------------------
* Every name is normalised here: leading ``/`` are stripped (names are relative to
  the layer root, as in the image-spec), ``.`` and empty components dropped, ``..``
  resolved lexically; a ``..`` that would climb above the root, a NUL byte, a path
  longer than ``max_path`` bytes or deeper than ``max_depth`` components is a
  ``LayerError`` naming the entry. The kernel never sees a ``..`` from a layer.
* Parent directories are opened one component at a time with
  ``O_DIRECTORY|O_NOFOLLOW`` relative to the parent's descriptor, starting from a
  descriptor of ``dest``; every object is then created relative to its parent's
  descriptor (``openat``/``mkdirat``/``symlinkat``/``mknodat``/``linkat``). A
  symlink (or any non-directory) in a parent position is refused with
  ``LayerError`` (it is never followed, and never silently replaced). The final
  component is created with ``O_CREAT|O_EXCL|O_NOFOLLOW`` (or the ``*at`` call that
  fails on an existing name); an existing non-directory is unlinked and recreated,
  an existing directory is kept when the entry is a directory (its attributes are
  replaced) and removed recursively, without following symlinks, otherwise.
  Descriptors of directories are cached per layer and dropped when an entry
  replaces the directory. Symlink targets are stored verbatim and never followed.
* Hardlink targets are normalised the same way, must already exist in this layer
  and are reached without following symlinks in any parent position. A hardlink to
  a symlink links the symlink itself (``linkat`` without ``AT_SYMLINK_FOLLOW``),
  which is what the archive recorded; it never reaches what the symlink points to.
  A target that escapes the root, or that does not exist in this layer (overlayfs
  cannot link across layers), is a ``LayerError`` naming the entry.
* Because a layer is applied into its own empty directory, a symlink left by a
  lower layer (``lib -> /outside``) does not exist here: a later ``lib/evil`` makes
  a real directory ``lib`` inside this layer's directory. Two-step escapes are
  contained by construction.
* What is *not* defended here: another process modifying ``dest`` while we run
  (the store's 0700 directory and its lock are the defence), and what the kernel
  does with the result at run time (overlay options, ``nodev``, runtime checks).

Whiteouts
---------
``.wh.NAME`` with NAME empty, ``.`` or ``..`` is refused. ``.wh..wh..opq`` marks its
directory opaque; the aufs meta entries ``.wh..wh.plnk``, ``.wh..wh.aufs`` and
``.wh..wh.orph`` (and anything below them) are implementation-specific and skipped;
any other ``.wh..wh.*`` name is refused, and so is any path whose *directory* part
has a component starting with ``.wh.`` (no such directory can exist), and any
hardlink whose target has such a component (so old aufs-exported layers that link
into ``.wh..wh.plnk`` fail cleanly instead of half-working). Per the spec a
whiteout only hides lower layers, never entries of its own layer, whatever the
order: a whiteout for a name this layer already created keeps it (and makes it
opaque if it is a directory, so the lower directory's content stays hidden); an
entry arriving after the whiteout of its name replaces the 0/0 device (a directory
replacing it is made opaque). A plain whiteout inside an opaque directory is
redundant and stored as is. ``trusted.overlay.*``/``user.overlay.*`` xattrs found in
the archive itself are dropped: only whiteout entries may set overlay metadata.
"""

from __future__ import annotations

import errno
import os
import stat

from ..common.errors import LayerError
from .entry_errors import bad as _bad, os_error as _os_error
from .filewriters import JOB_MAX, FileWriters, write_all
from .rootfs import SymlinkInPathError, open_dir_at
from .tarreader import CHR, DIR, FIFO, LNK, REG, SKIP, SYM, StreamError, TarReader, display
from .trees import rmtree_at


def _fd_cache_size() -> int:
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, ValueError, OSError):
        return 128
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(32, min(1024, soft // 8))


_FD_CACHE = _fd_cache_size()
_MAX_JOBS = max(8, min(256, _FD_CACHE))  # each queued job holds one open descriptor

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

_OPAQUE_XATTR = b"trusted.overlay.opaque"
_WH = b".wh."
_WH_META = b".wh..wh."
_WH_OPQ = b".wh..wh..opq"
# aufs-internal meta entries (hardlink dir, aufs bookkeeping, orphans): skipped.
_WH_AUFS_META = frozenset((b".wh..wh.plnk", b".wh..wh.aufs", b".wh..wh.orph"))


class _NonDirectoryParent(LayerError):
    """A path's parent is a regular file (or other non-directory, non-symlink) of this layer."""


class LayerApplier:
    """Writes the entries of one layer into ``dest`` (see the module docstring)."""

    def __init__(self, dest: str, max_entries: int, workers: int = 0):
        self.workers = workers
        self.writers = None
        self.made_dirs = set()  # directories created implicitly while workers run
        self.max_entries = max_entries
        self.root = os.geteuid() == 0
        self.rootfd = os.open(dest, _O_DIR)
        st = os.fstat(self.rootfd)
        # As root, new files are already 0:0 unless the root dir passes its group on.
        self.skip_zero_chown = self.root and os.getegid() == 0 and not st.st_mode & stat.S_ISGID
        self.fds = {b"": self.rootfd}
        self.pending_dirs = {}
        self.inodes = 0
        self.name = b""

    # -- descriptors of parent directories ---------------------------------------

    def close(self) -> None:
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = {}

    def _trim(self) -> None:
        fds = self.fds
        drop = [k for i, k in enumerate(fds) if k and i < len(fds) // 2]
        for key in drop:
            os.close(fds.pop(key))

    def _forget(self, rel: bytes) -> None:
        """Drop cached descriptors of ``rel`` and below (it is being removed)."""
        prefix = rel + b"/"
        for key in [k for k in self.fds if k == rel or k.startswith(prefix)]:
            os.close(self.fds.pop(key))

    def dirfd(self, rel: bytes, create: bool = True) -> int:
        """Descriptor of directory ``rel`` (normalised, relative to the root).

        Opened component by component with O_NOFOLLOW from the nearest cached
        ancestor; missing components are created (``create``) as 0755 root-owned
        directories, or raise FileNotFoundError. A symlink or non-directory on the
        way is a LayerError.
        """
        fds = self.fds
        fd = fds.get(rel)
        if fd is not None:
            return fd
        todo = []
        head = rel
        while True:
            head, dummy, tail = head.rpartition(b"/")
            todo.append(tail)
            fd = fds.get(head)
            if fd is not None:
                break
        for comp in reversed(todo):
            path = head + b"/" + comp if head else comp
            try:
                fd = open_dir_at(fd, comp)
            except FileNotFoundError:
                writers = self.writers
                if writers is not None and path in writers.pending:
                    # A file of that name is still being created: wait, then see it as
                    # the serial order would.
                    writers.wait_name(path)
                    return self.dirfd(rel, create)
                if not create:
                    raise
                self._count_inode()
                if writers is not None:
                    self.made_dirs.add(path)
                os.mkdir(comp, 0o755, dir_fd=fd)
                fd = os.open(comp, _O_DIR, dir_fd=fd)
                os.fchmod(fd, 0o755)
            except (SymlinkInPathError, NotADirectoryError) as err:
                # A file of this layer in a parent position (not a symlink) is told apart: see _whiteout.
                kind = LayerError if isinstance(err, SymlinkInPathError) else _NonDirectoryParent
                raise kind("layer entry %r: parent %r is a symlink or not a directory; "
                           "refusing to write through it" % (display(self.name), display(path))) from None
            fds[path] = fd
            head = path
        return fd

    def _count_inode(self) -> None:
        self.inodes += 1
        if self.inodes > self.max_entries:
            raise LayerError("layer has more than %d entries (limit)" % self.max_entries)

    def _make_room(self, pfd: int, base: bytes, rel: bytes) -> None:
        """Remove the existing ``base`` so that a new entry can take its place."""
        st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            if self.writers is not None:
                self.writers.wait()  # jobs may still be creating files below it
            self._forget(rel)
            self.pending_dirs.pop(rel, None)
            rmtree_at(pfd, base, self.root)
        else:
            os.unlink(base, dir_fd=pfd)

    # -- attributes --------------------------------------------------------------

    def _chown(self, target, uid: int, gid: int, pfd: int | None = None) -> None:
        if self.skip_zero_chown and not uid and not gid:
            return
        try:
            if pfd is None:
                os.fchown(target, uid, gid)
            else:
                os.chown(target, uid, gid, dir_fd=pfd, follow_symlinks=False)
        except PermissionError:
            if self.root:
                raise
        except OverflowError:
            raise _bad(self.name, "uid/gid %d:%d out of range" % (uid, gid)) from None

    def _xattrs(self, target, xattrs: dict, nofollow: bool) -> None:
        for key, value in xattrs.items():
            if key.startswith(b"trusted.overlay.") or key.startswith(b"user.overlay."):
                continue
            try:
                if nofollow:
                    os.setxattr(target, key, value, follow_symlinks=False)
                else:
                    os.setxattr(target, key, value)
            except ValueError:
                raise _bad(self.name, "invalid xattr name %r" % display(key)) from None
            except OSError as err:
                if err.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
                    continue  # the filesystem has no such namespace
                if err.errno == errno.EPERM and (nofollow or not self.root):
                    continue  # e.g. user.* on a symlink or device
                raise _bad(self.name, "cannot set xattr %r: %s"
                           % (display(key), err.strerror)) from None

    @staticmethod
    def _proc_path(pfd: int, base: bytes) -> bytes:
        return b"/proc/self/fd/%d/%s" % (pfd, base)

    def _set_opaque(self, fd: int) -> None:
        try:
            os.setxattr(fd, _OPAQUE_XATTR, b"y")
        except OSError as err:
            raise _bad(self.name, "cannot mark directory opaque (%s); overlay whiteouts need "
                                  "root and a filesystem with trusted xattrs" % err.strerror) from None

    # -- the entry loop ----------------------------------------------------------

    def run(self, reader: TarReader) -> int:
        """Apply every entry of ``reader``; the number of entries applied."""
        if self.workers <= 0:
            return self._run(reader)
        writers = self.writers = FileWriters(self.workers, self.root, self.skip_zero_chown, _MAX_JOBS)
        try:
            try:
                applied = self._run(reader)
            except StreamError:
                raise
            except Exception:
                # An earlier entry's failure in a worker comes first, as it would serially.
                writers.wait()
                if writers.error is not None:
                    raise writers.error from None
                raise
            writers.finish()
        finally:
            writers.close()
            self.writers = None
        return applied

    def _run(self, reader: TarReader) -> int:
        inp = reader.inp
        read = inp.read
        fds = self.fds
        writers = self.writers
        pending = writers.pending if writers is not None else {}
        pending_dirs = self.pending_dirs
        made_dirs = self.made_dirs
        max_entries = self.max_entries
        applied = 0
        for entry in reader:
            (name, rel, parent, base, kind, size, pad, mode, uid, gid, mtime, link, xattrs, devmajor, devminor,
             dummy, dummy) = entry
            if self.inodes > max_entries:
                raise LayerError("layer has more than %d entries (limit)" % max_entries)
            self.inodes += 1
            if len(fds) > _FD_CACHE:
                self._trim()
            if rel.find(_WH) >= 0:
                action = self._whiteout_check(name, parent, base)
                if action is not None:
                    if action == "whiteout":
                        self._whiteout(parent, base)
                        applied += 1
                    reader.skip_data(entry)
                    continue
            if kind == SKIP:
                reader.skip_data(entry)
                continue

            self.name = name
            try:
                if pending and rel in pending:
                    writers.wait_name(rel)  # a file of that name is still being created
                if (kind == REG and writers is not None and size <= JOB_MAX and not xattrs
                        and rel and rel not in pending_dirs and rel not in made_dirs):
                    # Read the data here (the stream is sequential), resolve the parent
                    # here, let a worker create and fill the file (see FileWriters).
                    data = b""
                    if size:
                        pos = inp.pos
                        end = pos + size
                        if end + pad <= len(inp.buf):
                            data = inp.buf[pos:end]
                            inp.pos = end + pad
                            pad = 0
                        else:
                            data = read(size)
                    pfd = fds.get(parent)
                    if pfd is None:
                        pfd = self.dirfd(parent)
                    if len(data) < size:
                        raise _bad(name, "truncated data")
                    writers.submit(pfd, rel, base, name, data, mode, uid, gid, mtime)
                    if pad:
                        inp.skip(pad)  # see skip_data: a missing final padding ends the archive
                elif kind == REG:
                    if not rel:
                        raise _bad(name, "a regular file cannot replace the layer root")
                    pfd = fds.get(parent)
                    if pfd is None:
                        pfd = self.dirfd(parent)
                    try:
                        fd = os.open(base, _O_FILE, 0o600, dir_fd=pfd)
                    except FileExistsError:
                        self._make_room(pfd, base, rel)
                        fd = os.open(base, _O_FILE, 0o600, dir_fd=pfd)
                    try:
                        if size:
                            pos = inp.pos
                            end = pos + size
                            if end + pad <= len(inp.buf):  # all in the current chunk
                                done = os.write(fd, inp.mv[pos:end])
                                if done < size:
                                    write_all(fd, inp.mv[pos + done:end])
                                inp.pos = end + pad
                                pad = 0
                            elif not inp.copy_to(fd, size):
                                raise _bad(name, "truncated data")
                        if uid or gid or not self.skip_zero_chown:
                            self._chown(fd, uid, gid)
                        os.fchmod(fd, mode)
                        if xattrs:
                            self._xattrs(fd, xattrs, False)
                        os.utime(fd, ns=(mtime, mtime))
                    finally:
                        os.close(fd)
                    if pad:
                        inp.skip(pad)  # see skip_data: a missing final padding ends the archive
                elif kind == DIR:
                    self._directory(rel, parent, base, mode, uid, gid, mtime, xattrs)
                    if size:
                        reader.skip_data(entry)
                elif kind == SYM:
                    self._symlink(rel, parent, base, link, uid, gid, mtime, xattrs)
                elif kind == LNK:
                    self._hardlink(rel, parent, base, link, reader.link_target(entry))
                else:
                    self._special(kind, devmajor, devminor, rel, parent, base, mode, uid, gid, mtime, xattrs)
            except OSError as err:
                raise _os_error(name, err) from None
            except (OverflowError, ValueError) as err:
                raise _bad(name, str(err)) from None
            applied += 1
        return applied

    def _whiteout_check(self, name: bytes, parent: bytes, base: bytes):
        """Classify a name containing ``.wh.``: None (ordinary), "skip" or "whiteout"."""
        if parent:
            for comp in parent.split(b"/"):
                if comp.startswith(_WH):
                    if comp in _WH_AUFS_META:
                        return "skip"
                    raise _bad(name, "a whiteout name (%r) cannot be a directory"
                               % display(comp))
        if not base.startswith(_WH):
            return None
        if base in _WH_AUFS_META:
            return "skip"
        if base == _WH_OPQ:
            return "whiteout"
        if base.startswith(_WH_META):
            raise _bad(name, "unknown whiteout meta entry %r" % display(base))
        target = base[len(_WH):]
        if target in (b"", b".", b".."):
            raise _bad(name, "malformed whiteout %r" % display(base))
        return "whiteout"

    def _whiteout(self, parent: bytes, base: bytes) -> None:
        self.name = parent + b"/" + base if parent else base
        try:
            try:
                pfd = self.dirfd(parent)
            except _NonDirectoryParent:
                # This layer replaced the parent with a file, which already hides
                # everything below it in lower layers: the whiteout has nothing left to
                # do (umoci 0.4 repack writes such layers; podman accepts them). Through
                # a symlinked parent it is still refused, as every write is.
                return
            if base == _WH_OPQ:
                self._set_opaque(pfd)
                return
            target = base[len(_WH):]
            if self.writers is not None:
                self.writers.wait_name(parent + b"/" + target if parent else target)
            try:
                os.mknod(target, stat.S_IFCHR, os.makedev(0, 0), dir_fd=pfd)
            except FileExistsError:
                st = os.stat(target, dir_fd=pfd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    # This layer made the directory; the whiteout still hides the
                    # lower one's content: make ours opaque.
                    self._set_opaque(self.dirfd(parent + b"/" + target if parent else target))
                # A non-directory of this layer already hides the lower entry.
        except PermissionError as err:
            raise _bad(self.name, "cannot create an overlay whiteout (%s); this needs root"
                       % err.strerror) from None
        except OSError as err:
            raise _os_error(self.name, err) from None

    def _directory(self, rel, parent, base, mode, uid, gid, mtime, xattrs) -> None:
        if not rel:
            fd = self.rootfd
        else:
            pfd = self.fds.get(parent)
            if pfd is None:
                pfd = self.dirfd(parent)
            opaque = False
            try:
                os.mkdir(base, 0o700, dir_fd=pfd)
            except FileExistsError:
                st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    # Replacing this layer's whiteout of the same name: the lower
                    # directory stays hidden, so the new one is opaque.
                    opaque = stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
                    os.unlink(base, dir_fd=pfd)
                    os.mkdir(base, 0o700, dir_fd=pfd)
            fd = self.fds.get(rel)
            if fd is None:
                fd = os.open(base, _O_DIR, dir_fd=pfd)
                self.fds[rel] = fd
            if opaque:
                self._set_opaque(fd)
        self._chown(fd, uid, gid)
        if xattrs:
            self._xattrs(fd, xattrs, False)
        self.pending_dirs[rel] = (mode, mtime)

    def _symlink(self, rel, parent, base, target, uid, gid, mtime, xattrs) -> None:
        if not rel:
            raise _bad(self.name, "a symlink cannot replace the layer root")
        if not target:
            raise _bad(self.name, "symlink with an empty target")
        if b"\x00" in target:
            raise _bad(self.name, "symlink target contains a NUL byte")
        pfd = self.fds.get(parent)
        if pfd is None:
            pfd = self.dirfd(parent)
        try:
            os.symlink(target, base, dir_fd=pfd)
        except FileExistsError:
            self._make_room(pfd, base, rel)
            os.symlink(target, base, dir_fd=pfd)
        self._chown(base, uid, gid, pfd)
        if xattrs:
            self._xattrs(self._proc_path(pfd, base), xattrs, True)
        os.utime(base, ns=(mtime, mtime), dir_fd=pfd, follow_symlinks=False)

    def _hardlink(self, rel, parent, base, link, target) -> None:
        if not rel:
            raise _bad(self.name, "a hardlink cannot replace the layer root")
        if not target:
            raise _bad(self.name, "hardlink to the layer root")
        if _WH in target and any(c.startswith(_WH) for c in target.split(b"/")):
            raise _bad(self.name, "hardlink to a whiteout name %r" % display(link))
        if target == rel:
            return  # a link to itself: nothing to do
        if self.writers is not None:
            self.writers.wait_name(target)  # the target may still be being created
        tparent, dummy, tbase = target.rpartition(b"/")
        pfd = self.fds.get(parent)
        if pfd is None:
            pfd = self.dirfd(parent)
        try:
            tpfd = self.dirfd(tparent, create=False)
            os.link(tbase, base, src_dir_fd=tpfd, dst_dir_fd=pfd, follow_symlinks=False)
        except FileExistsError:
            self._make_room(pfd, base, rel)
            pfd = self.dirfd(parent)
            tpfd = self.dirfd(tparent, create=False)
            os.link(tbase, base, src_dir_fd=tpfd, dst_dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            raise _bad(self.name, "hardlink target %r does not exist in this layer"
                       % display(link)) from None
        except PermissionError:
            raise _bad(self.name, "hardlink target %r is a directory or not linkable"
                       % display(link)) from None

    def _special(self, kind, major, minor, rel, parent, base, mode, uid, gid, mtime,
                 xattrs) -> None:
        if not rel:
            raise _bad(self.name, "a device or fifo cannot replace the layer root")
        pfd = self.fds.get(parent)
        if pfd is None:
            pfd = self.dirfd(parent)
        if kind == FIFO:
            fmt, dev = stat.S_IFIFO, 0
        else:
            fmt = stat.S_IFCHR if kind == CHR else stat.S_IFBLK
            if not (0 <= major < 1 << 32 and 0 <= minor < 1 << 32):
                raise _bad(self.name, "device number %d:%d out of range" % (major, minor))
            dev = os.makedev(major, minor)
        try:
            os.mknod(base, fmt | 0o600, dev, dir_fd=pfd)
        except FileExistsError:
            self._make_room(pfd, base, rel)
            os.mknod(base, fmt | 0o600, dev, dir_fd=pfd)
        self._chown(base, uid, gid, pfd)
        os.chmod(base, mode, dir_fd=pfd)  # just created by us: not a symlink
        if xattrs:
            self._xattrs(self._proc_path(pfd, base), xattrs, True)
        os.utime(base, ns=(mtime, mtime), dir_fd=pfd, follow_symlinks=False)

    def finish_dirs(self) -> None:
        """Apply directory modes and mtimes, after all their content was written."""
        for rel, (mode, mtime) in self.pending_dirs.items():
            if len(self.fds) > _FD_CACHE:
                self._trim()
            self.name = rel
            try:
                fd = self.dirfd(rel, create=False)
            except (LayerError, OSError):
                continue  # replaced by something else later in the layer
            try:
                os.fchmod(fd, mode)
                os.utime(fd, ns=(mtime, mtime))
            except OSError as err:
                raise _os_error(rel or b".", err) from None
            except OverflowError as err:
                raise _bad(rel or b".", str(err)) from None
