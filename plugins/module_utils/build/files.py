# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``copy`` and ``add``: host files into the working container's rootfs.

The destination is hostile ground (the image's tree): every directory on the way is opened
one component at a time from the rootfs (storage.rootfs.open_dir_at, never following a link),
missing ones are made, and files are created with ``*at`` calls and ``O_NOFOLLOW``, so no
link of the image leads a write out of the rootfs. A destination component that is a symlink
is resolved inside the rootfs (storage.rootfs.resolve_in_root) first, as docker does.

Sources are the build's own files: a directory is copied by its content (its symlinks as
symlinks, never followed). ``add`` also unpacks a local tar archive, plain or compressed
(gzip, zstd, bzip2, xz: detected from the content, not the name) through the store's tar
reader and its rules (storage.unpack), and fetches ``http(s)://`` URLs (verified against
``checksum`` when given). Owners become root, or ``chown`` (``USER[:GROUP]``, names from the
image's /etc/passwd and /etc/group; a user alone also gives the group, as docker does);
``chmod`` sets the mode of everything copied.
"""

from __future__ import annotations

import bz2
import errno
import hashlib
import lzma
import os
import stat
import tempfile

from ..common.errors import UndockError
from ..common.fileutil import copy_fd_to_new
from ..runtime.users import resolve_user, split_user
from ..storage.rootfs import SymlinkInPathError, open_dir_at, resolve_in_root
from ..storage.trees import remove_tree
from .context.sources import named_source
from .errors import BuildError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional, Tuple

CHUNK = 1024 * 1024
URL_TIMEOUT = 60
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
TAR_MAGIC_OFFSET = 257


def parse_chmod(value: Any) -> Optional[int]:
    if value in (None, ""):
        return None
    text = str(value)
    try:
        mode = int(text, 8) if isinstance(value, str) else int(value)
    except ValueError:
        raise BuildError("chmod %r is not an octal mode such as 0755" % (value,))
    if isinstance(value, int) and not isinstance(value, bool) and value > 0o7777:
        mode = int(str(value), 8)  # YAML read 0755 as 755
    if not 0 <= mode <= 0o7777:
        raise BuildError("chmod %r is not a mode between 0000 and 7777" % (value,))
    return mode


def resolve_chown(rootfs: str, value: Any) -> Optional[Tuple[int, int]]:
    """(uid, gid) of ``USER[:GROUP]`` in the image; a user alone gives gid = uid, as docker."""
    if value in (None, ""):
        return None
    try:
        group = split_user(str(value))[1]
        resolved = resolve_user(rootfs, str(value))
    except UndockError as err:
        raise BuildError("chown %r: %s" % (value, err))
    return resolved.uid, resolved.uid if group is None else resolved.gid


class Destination:
    """A directory of the rootfs, opened without following links, where files are made.
    Directories it has to make belong to ``owner`` (the copy's ``chown``, as buildah does)."""

    def __init__(self, rootfs: str, path: str, owner: Optional[Tuple[int, int]] = None):
        self.rootfs = rootfs
        self.owner = owner
        self.fd = self._open(path)

    def _open(self, path: str) -> int:
        resolved = os.path.relpath(resolve_in_root(self.rootfs, path), self.rootfs)
        fd = os.open(self.rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for part in [p for p in resolved.split("/") if p and p != "."]:
                try:
                    child = open_dir_at(fd, part)
                except FileNotFoundError:
                    os.mkdir(part, 0o755, dir_fd=fd)
                    if self.owner is not None:
                        os.chown(part, self.owner[0], self.owner[1], dir_fd=fd, follow_symlinks=False)
                    child = open_dir_at(fd, part)
                except (NotADirectoryError, SymlinkInPathError):
                    raise BuildError("destination %s: %s in the image is not a directory" % (path, part))
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def close(self) -> None:
        os.close(self.fd)


def _clear(dir_fd: int, name: str, keep_dir: bool) -> None:
    """Make room for ``name``: a file or link there is removed (never followed); a directory
    stays when one is to be made, else it is an error."""
    try:
        st = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if not keep_dir:
            raise BuildError("cannot copy a file over the directory %s of the image" % name)
        return
    os.unlink(name, dir_fd=dir_fd)


def _set_owner_mode(dir_fd: int, name: str, owner: Tuple[int, int], mode: Optional[int], is_link: bool) -> None:
    os.chown(name, owner[0], owner[1], dir_fd=dir_fd, follow_symlinks=False)
    if mode is not None and not is_link:
        os.chmod(name, mode, dir_fd=dir_fd)


def copy_entry(source: str, dir_fd: int, name: str, owner: Optional[Tuple[int, int]], mode: Optional[int],
               refuse: Callable[[str, os.stat_result], None] = lambda path, st: None) -> int:
    """Copy the host file, link or tree ``source`` to ``name`` in ``dir_fd``; returns files copied.
    ``owner`` None keeps each file's own owner (an archive's entries)."""
    st = os.lstat(source)
    refuse(source, st)
    own = owner or (st.st_uid, st.st_gid)
    if stat.S_ISDIR(st.st_mode):
        _clear(dir_fd, name, keep_dir=True)
        try:
            os.mkdir(name, stat.S_IMODE(st.st_mode), dir_fd=dir_fd)
        except FileExistsError:
            pass
        child = open_dir_at(dir_fd, name)
        count = 0
        try:
            for entry in sorted(os.listdir(source)):
                count += copy_entry(os.path.join(source, entry), child, entry, owner, mode, refuse)
        finally:
            os.close(child)
        _set_owner_mode(dir_fd, name, own, mode if mode is not None else stat.S_IMODE(st.st_mode), False)
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dir_fd, follow_symlinks=False)
        return count
    _clear(dir_fd, name, keep_dir=False)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(source), name, dir_fd=dir_fd)
        _set_owner_mode(dir_fd, name, own, None, True)
    elif stat.S_ISREG(st.st_mode):
        src = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            copy_fd_to_new(src, name, dir_fd=dir_fd)
        finally:
            os.close(src)
        _set_owner_mode(dir_fd, name, own, mode if mode is not None else stat.S_IMODE(st.st_mode), False)
    elif stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        os.mknod(name, st.st_mode, st.st_rdev, dir_fd=dir_fd)
        _set_owner_mode(dir_fd, name, own, mode, False)
    else:
        raise BuildError("%s is a socket: it cannot be copied into an image" % source)
    os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dir_fd, follow_symlinks=False)
    return 1


def _target(rootfs: str, dest: str, working_dir: str, many: bool, source_is_dir: bool, basename: str) -> Tuple[str, str]:
    """(directory, name) that ``dest`` means for one source, docker's rules: a ``dest`` ending
    in ``/``, an existing directory, or several sources put the source inside it; a directory's
    content goes into ``dest`` itself."""
    path = dest if dest.startswith("/") else os.path.join(working_dir or "/", dest)
    into = dest.endswith("/") or many or os.path.isdir(resolve_in_root(rootfs, path))
    path = os.path.normpath(path)
    if source_is_dir:
        return path, ""
    if into:
        return path, basename
    head, tail = os.path.split(path)
    if not tail:
        raise BuildError("destination %s names no file" % dest)
    return head or "/", tail


def _whiteouts_refused(path: str, st: os.stat_result) -> None:
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
        raise BuildError("%s: the archive holds a whiteout (.wh.) entry, which add does not apply" % path)


def copy_into(rootfs: str, sources: List[str], dest: str, working_dir: str, owner: Tuple[int, int],
              mode: Optional[int], refuse: Callable[[str, os.stat_result], None] = lambda path, st: None,
              follow: bool = False) -> int:
    """Copy host ``sources`` (files, links, directories) to ``dest`` of the rootfs; files copied.
    With ``follow``, each source is a path the user named (``named_source``); without, a link
    among ``sources`` is copied as a link."""
    count = 0
    for given in sources:
        source, basename = named_source(given) if follow else (given, os.path.basename(given))
        is_dir = os.path.isdir(source) and not os.path.islink(source)
        directory, name = _target(rootfs, dest, working_dir, len(sources) > 1, is_dir, basename)
        target = Destination(rootfs, directory, owner)
        try:
            if is_dir:
                for entry in sorted(os.listdir(source)):
                    count += copy_entry(os.path.join(source, entry), target.fd, entry, owner, mode, refuse)
            else:
                count += copy_entry(source, target.fd, name, owner, mode, refuse)
        finally:
            target.close()
    return count


def apply_tree(rootfs: str, tree: str) -> int:
    """Put ``tree`` (a linked copy's own files: COPY --link) onto the rootfs as its layer would be
    merged over it when it is not a layer of its own: a directory of ``tree`` replaces a link of
    the rootfs instead of following it, and takes over an existing directory's owner and mode.
    Each file keeps its owner and mode; files copied."""
    fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    count = 0
    try:
        for entry in sorted(os.listdir(tree)):
            count += copy_entry(os.path.join(tree, entry), fd, entry, None, None)
    finally:
        os.close(fd)
    return count


# -- add: archives and URLs -------------------------------------------------------------
def _decompressed(handle: Any) -> Any:
    """A reader of ``handle``'s content with any compression undone, detected from the bytes."""
    head = handle.read(6)
    handle.seek(0)
    if head.startswith(BZIP2_MAGIC):
        return bz2.BZ2File(handle)
    if head.startswith(XZ_MAGIC):
        return lzma.LZMAFile(handle)
    from ..storage.compression import open_decompressed
    return open_decompressed(handle, max_size=None)


def is_archive(path: str) -> bool:
    """Whether ``path`` is a tar archive, compressed or not (its content decides, not its name)."""
    try:
        with open(path, "rb") as handle:
            reader = _decompressed(handle)
            head = b""
            while len(head) < TAR_MAGIC_OFFSET + 8:
                data = reader.read(TAR_MAGIC_OFFSET + 8 - len(head))
                if not data:
                    break
                head += data
    except (OSError, EOFError, lzma.LZMAError, UndockError, ValueError):
        return False
    return head[TAR_MAGIC_OFFSET:TAR_MAGIC_OFFSET + 5] == b"ustar"


def extract_into(rootfs: str, archive: str, dest: str, working_dir: str, owner: Optional[Tuple[int, int]],
                 mode: Optional[int], scratch: str) -> int:
    """Unpack ``archive`` into ``dest``: first into an empty scratch directory by the store's
    tar reader (names, links and sizes checked), then copied in like a directory."""
    from ..storage.unpack import unpack_layer
    temp = tempfile.mkdtemp(prefix=".add-", dir=scratch)
    try:
        with open(archive, "rb") as handle:
            plain = _decompressed(handle)
            try:
                unpack_layer(plain, temp)
            except UndockError as err:
                raise BuildError("add %s: %s" % (archive, err))
        directory = dest if dest.startswith("/") else os.path.join(working_dir or "/", dest)
        target = Destination(rootfs, os.path.normpath(directory), owner)
        count = 0
        try:
            for entry in sorted(os.listdir(temp)):
                path = os.path.join(temp, entry)
                count += copy_entry(path, target.fd, entry, owner, mode, _whiteouts_refused)
        finally:
            target.close()
        return count
    finally:
        remove_tree(temp)


def fetch_url(url: str, directory: str, checksum: Optional[str] = None, timeout: float = URL_TIMEOUT) -> str:
    """Download ``url`` into ``directory`` with requests; verify ``checksum`` (``sha256:HEX``)."""
    from ..common.deps import import_library
    requests = import_library("requests")
    algorithm, dummy, expected = (checksum or "").partition(":")
    if checksum and (algorithm not in ("sha256", "sha384", "sha512") or not expected):
        raise BuildError("checksum %r is not ALGORITHM:HEX (sha256, sha384 or sha512)" % checksum)
    digest = hashlib.new(algorithm or "sha256")
    name = os.path.basename(url.split("?", 1)[0].rstrip("/")) or "download"
    path = os.path.join(tempfile.mkdtemp(prefix=".url-", dir=directory), name)
    try:
        with requests.get(url, stream=True, timeout=timeout) as response:
            if response.status_code != 200:
                raise BuildError("add %s: the server answered %d %s" % (url, response.status_code, response.reason))
            with open(path, "wb") as out:
                for chunk in response.iter_content(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
    except requests.RequestException as err:
        raise BuildError("add %s: %s" % (url, err))
    if checksum and digest.hexdigest() != expected.lower():
        raise BuildError("add %s: checksum mismatch: expected %s, got %s:%s" % (url, checksum, algorithm,
                                                                                digest.hexdigest()))
    os.chmod(path, 0o600)
    return path


def check_source(path: str) -> str:
    """A local source must exist (its top-level link is followed, see ``named_source``); the
    path as named, absolute, so that the copy keeps its name."""
    try:
        os.stat(path)
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            raise BuildError("source %s does not exist" % path)
        raise BuildError("source %s: %s" % (path, err.strerror or err))
    return os.path.abspath(path)
