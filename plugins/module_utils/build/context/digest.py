# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The content digest of what a COPY/ADD step copies from the context: part of its cache key.

What it covers, for each item in order, then each member in walk order (parents first,
names sorted): the path below the destination, the type (file, directory, symlink), the
permission bits (``0o7777``, setuid/setgid/sticky included), and the sha256 of a file's
content or the text of a symlink's target.

What it leaves out, and why:

- mtime, atime, ctime: touching a file, a fresh checkout or a copy must keep the cache,
  as docker documents ("the last-modified and last-accessed times are not considered")
  and buildkit's contenthash does (it hashes a tar header with the times cleared);
- uid and gid: COPY and ADD from the context give every file 0:0, or the ``--chown``
  owner, which is part of the instruction text and so of the key already; the source's
  owners never reach the layer. buildkit hashes them anyway (its contenthash is a generic
  stat hash) and buildah's COPY digest does not; leaving them out keeps the cache across
  checkouts by different users;
- xattrs and hardlink identity: not copied from the context by this engine;
- the source path as written: the instruction text carries it; two sources that bring
  the same tree make the same layer.

Each field is written as ``len:bytes,`` (a netstring), so no two different selections
serialise to the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import stat

from .errors import ContextError
from .ignore import IgnoreRules
from .snapshot import DIR, FILE, SYMLINK, Snapshot, take_snapshot
from .sources import SourceItem, named_source, select_sources

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Iterable

_VERSION = b"undock-context-digest-v1"


def _field(digest, value) -> None:
    data = value if isinstance(value, bytes) else os.fsencode(value) if isinstance(value, str) else str(value).encode()
    digest.update(b"%d:" % len(data))
    digest.update(data)
    digest.update(b",")


def content_digest(snapshot: Snapshot, items: Iterable[SourceItem]) -> str:
    """``sha256:HEX`` over the selection (see the module docstring for what counts)."""
    digest = hashlib.sha256()
    _field(digest, _VERSION)
    for item in items:
        _field(digest, "item")
        _field(digest, item.name if not item.is_dir else "")
        for path, entry in item.members:
            _field(digest, entry.kind)
            _field(digest, path)
            _field(digest, "%o" % entry.mode)
            if entry.kind == FILE:
                _field(digest, snapshot.file_sha256(entry))
            elif entry.kind == SYMLINK:
                _field(digest, entry.target or "")
            else:
                _field(digest, "")
    return "sha256:" + digest.hexdigest()


def _escape(name: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in name)


def path_digest(path: str, follow: bool = False) -> str:
    """The content digest of a host path as a COPY of it would copy it: a directory's
    contents, or one file or symlink under its own name. The same walk as a context (links
    kept as links, never followed), so oci_build's ``steps`` and Dockerfiles key alike; with
    ``follow``, the path is one the user named and is followed (``named_source``)."""
    full, given = named_source(path) if follow else (os.path.abspath(path), None)
    try:
        st = os.lstat(full)
    except OSError as err:
        raise ContextError("%s: %s" % (path, err.strerror or err)) from None
    if stat.S_ISDIR(st.st_mode):
        snapshot = take_snapshot(full)
        return content_digest(snapshot, select_sources(snapshot, ["."]))
    parent, name = os.path.split(full)
    snapshot = take_snapshot(parent, IgnoreRules(["*", "!" + _escape(name)]))
    entry = snapshot.entries.get(name)
    if entry is None or entry.kind == DIR:
        raise ContextError("%s: %s" % (path, snapshot.skipped.get(name) or "not a file, directory or symlink"))
    given = given or name
    return content_digest(snapshot, [SourceItem(given, name, given, entry, [(given, entry)])])
