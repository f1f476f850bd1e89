# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A directory tree as the entries of a layer tar, in a reproducible order and form.

Two kinds of tree are read:

* an overlay upper directory (``whiteouts=True``): the diff of a working container. Overlay's
  native whiteouts become OCI ones: a character device 0/0 ``NAME`` is the entry ``.wh.NAME``,
  a directory with ``trusted.overlay.opaque=y`` is followed by ``DIR/.wh..wh..opq``. Other
  ``trusted.overlay.*`` attributes are overlay's bookkeeping and are never written; a
  redirected or metacopy entry (features this engine never turns on) is refused, since its
  content is not all in the upper directory.
* a whole rootfs (``whiteouts=False``): a squashed image's one layer.

Reproducible: entries sorted by name (bytes) in a depth-first walk, a directory before what
it holds; mtimes clamped to ``epoch`` when given; no atime or ctime; numeric owners only; the
second name of a hard-linked file is a hard link to the first. No link is ever followed.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from collections import namedtuple

from .errors import BuildError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Callable, Dict, Iterator, List, Optional, Tuple

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OVERLAY_XATTR = "trusted.overlay."
OPAQUE_XATTR = "trusted.overlay.opaque"
REFUSED_XATTRS = ("trusted.overlay.redirect", "trusted.overlay.metacopy")


class Entry(namedtuple("Entry", "path kind mode uid gid mtime size source linkname devmajor devminor xattrs",
                       defaults=(0, None, "", 0, 0, None))):
    """One tar entry: ``path`` is relative (no leading ``/``), ``source`` the host file for
    regular files; ``kind`` a tarfile type.

    path, linkname (str); kind (bytes); mode, uid, gid, mtime, size, devmajor, devminor (int);
    source (Optional[str]); xattrs (Optional[Dict[str, bytes]]).
    """

    __slots__ = ()


def _xattrs(path: str) -> Tuple[Dict[str, bytes], bool]:
    """(attributes to keep, opaque) of ``path``, never following a link."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as err:
        if err.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}, False
        raise
    kept: Dict[str, bytes] = {}
    opaque = False
    for name in sorted(names):
        if name.startswith(OVERLAY_XATTR):
            if name == OPAQUE_XATTR:
                opaque = os.getxattr(path, name, follow_symlinks=False) == b"y"
            elif name in REFUSED_XATTRS:
                raise BuildError("%s has the overlay attribute %s: its content is not all in the upper directory "
                                 "(overlay's redirect_dir or metacopy is on); turn them off for builds" % (path, name))
            continue
        kept[name] = os.getxattr(path, name, follow_symlinks=False)
    return kept, opaque


def _clamp(mtime: float, epoch: Optional[int]) -> int:
    value = max(0, int(mtime))
    return min(value, epoch) if epoch is not None else value


def _sorted_names(directory: str) -> Iterator[str]:
    return iter(sorted(os.listdir(directory), key=lambda n: n.encode("utf-8", "surrogateescape")))


def walk_tree(root: str, whiteouts: bool, epoch: Optional[int] = None,
              skip: Callable[[str], bool] = lambda rel: False) -> Iterator[Entry]:
    """The entries of the tree at ``root`` (see the module docstring), depth first in name
    order. ``skip(rel)`` leaves a path (and what is below it) out."""
    links: Dict[Tuple[int, int], str] = {}
    stack: List[Tuple[str, Iterator[str]]] = [("", _sorted_names(root))]
    while stack:
        rel_dir, names = stack[-1]
        name = next(names, None)
        if name is None:
            stack.pop()
            continue
        rel = rel_dir + "/" + name if rel_dir else name
        if skip(rel):
            continue
        path = os.path.join(root, rel)
        st = os.lstat(path)
        mode = stat.S_IMODE(st.st_mode)
        mtime = _clamp(st.st_mtime, epoch)
        if whiteouts and name.startswith(WHITEOUT_PREFIX):
            raise BuildError("%s: a file named %s cannot be stored in a layer (the .wh. prefix marks deletions)"
                             % (rel, name))
        if stat.S_ISCHR(st.st_mode) and whiteouts and st.st_rdev == 0:
            yield Entry((rel_dir + "/" if rel_dir else "") + WHITEOUT_PREFIX + name, tarfile.REGTYPE, 0, 0, 0, mtime)
            continue
        xattrs, opaque = _xattrs(path)
        common = dict(mode=mode, uid=st.st_uid, gid=st.st_gid, mtime=mtime, xattrs=xattrs or None)
        if stat.S_ISDIR(st.st_mode):
            yield Entry(rel, tarfile.DIRTYPE, **common)
            if whiteouts and opaque:
                yield Entry(rel + "/" + OPAQUE_MARKER, tarfile.REGTYPE, 0, 0, 0, mtime)
            stack.append((rel, _sorted_names(path)))
        elif stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in links:
                yield Entry(rel, tarfile.LNKTYPE, linkname=links[key], **common)
                continue
            if st.st_nlink > 1:
                links[key] = rel
            yield Entry(rel, tarfile.REGTYPE, size=st.st_size, source=path, **common)
        elif stat.S_ISLNK(st.st_mode):
            yield Entry(rel, tarfile.SYMTYPE, linkname=os.readlink(path), **common)
        elif stat.S_ISFIFO(st.st_mode):
            yield Entry(rel, tarfile.FIFOTYPE, **common)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            kind = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
            yield Entry(rel, kind, devmajor=os.major(st.st_rdev), devminor=os.minor(st.st_rdev), **common)
        # sockets cannot be held by a tar: left out, as tar does


def write_entries(writer, entries: Iterator[Entry]) -> int:
    """Write ``entries`` with a tar_writer.TarWriter; returns how many were written."""
    count = 0
    for entry in entries:
        if entry.kind == tarfile.REGTYPE and entry.source is not None:
            fd = os.open(entry.source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as handle:
                if os.fstat(handle.fileno()).st_size != entry.size:
                    raise BuildError("%s changed while it was being committed" % entry.path)
                writer.add_entry(entry.path, entry.kind, mode=entry.mode, uid=entry.uid, gid=entry.gid,
                                 mtime=entry.mtime, size=entry.size, stream=handle, xattrs=entry.xattrs)
        else:
            writer.add_entry(entry.path, entry.kind, mode=entry.mode, uid=entry.uid, gid=entry.gid, mtime=entry.mtime,
                             linkname=entry.linkname, devmajor=entry.devmajor, devminor=entry.devminor,
                             xattrs=entry.xattrs)
        count += 1
    return count
