# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The digests of a context's files kept from one build to the next, keyed by their stat.

A no-op rebuild (build.quick) needs the sha256 of every file of the context, and reading
them all is most of its cost when the context holds big files. A build's record keeps, for
each file it hashed, ``[size, mtime_ns, ctime_ns, inode, device, sha256]``; a later
snapshot takes the digest of a file whose stat is exactly that, and reads every other file.

The inputs stay the files' contents: a touched file (new mtime, same content) is read again
and has the same digest, so nothing is rebuilt; a file whose content changed has a new
ctime, whatever its size and mtime (``utime`` cannot set ctime, and writing sets it), so it
is read again. ctime has the granularity of the file system's clock (a tick of several
milliseconds, or a second on some file systems): a file written within the same tick as the
one it was hashed in could keep all its times. Like git's "racily clean" entries, a digest
is therefore kept only for a file whose mtime and ctime are ``RACY_NS`` older than the
start of the walk that hashed it, and only when the file's stat after the read was still
the walk's (``Snapshot.stable``).
"""

from __future__ import annotations

from .snapshot import FILE, Entry, Snapshot

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List

#: how much older than the walk a file's mtime and ctime must be for its digest to be kept
RACY_NS = 2 * 1000 * 1000 * 1000
HEX = "0123456789abcdef"


def _stat_key(entry: Entry) -> List[int]:
    return [entry.size, entry.mtime_ns, entry.ctime_ns, entry.ino, entry.dev]


def kept_digests(snapshot: Snapshot) -> Dict[str, List[Any]]:
    """``path -> [size, mtime_ns, ctime_ns, inode, device, sha256 hex]`` for the files of
    ``snapshot`` already hashed whose digest a later snapshot may take (see the docstring)."""
    limit = snapshot.taken_ns - RACY_NS
    kept: Dict[str, List[Any]] = {}
    for path in sorted(snapshot.stable):
        entry = snapshot.entries.get(path)
        digest = snapshot.known(path)
        if entry is None or entry.kind != FILE or digest is None or max(entry.mtime_ns, entry.ctime_ns) >= limit:
            continue
        kept[path] = _stat_key(entry) + [digest]
    return kept


def reuse_digests(snapshot: Snapshot, kept: Any) -> int:
    """Take from ``kept`` (a record's ``kept_digests``, or anything: it is read from the
    store) the digest of each file of ``snapshot`` whose stat is the one recorded; how many."""
    if not isinstance(kept, dict):
        return 0
    reused = 0
    for path, value in kept.items():
        entry = snapshot.entries.get(path)
        if entry is None or entry.kind != FILE or not isinstance(value, list) or len(value) != 6:
            continue
        digest = value[5]
        if value[:5] == _stat_key(entry) and isinstance(digest, str) and len(digest) == 64 and not digest.strip(HEX):
            snapshot.known_digest(path, digest)
            reused += 1
    return reused
