# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""COPY/ADD sources from the build context, with docker's rules.

- A source is a path relative to the context root: a leading ``/`` is the root, and
  ``..`` cannot climb above it (the path is cleaned as if rooted, as buildkit does).
- With a wildcard (an unescaped ``*``, ``?`` or ``[``), each component is matched like Go's
  ``filepath.Match`` against the names in the snapshot (``*`` does not cross ``/``, it does
  match a leading dot); matches come sorted, and no match is an error.
- Each source (or match) is resolved inside the snapshot, symlinks included (the named
  path itself is followed, like buildkit's copy with FollowSymlinks; links *inside* a
  copied directory are copied as links). Excluded and skipped entries are not there.
- A directory source copies what it holds, not the directory itself; a file (or a link to
  one) is copied under the last name of the source as written.
"""

from __future__ import annotations

import os

from .errors import ContextError
from .patterns import PathPattern, go_clean, has_wildcards
from .snapshot import DIR, Entry, Snapshot

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import List, Sequence, Tuple


class SourceItem:
    """One source path and what it brings: ``members`` as (path below the destination, entry).

    For a directory, every entry below it, parents first; for anything else, one member
    named after the source (``name``).
    """

    def __init__(self, source: str, path: str, name: str, entry: Entry, members: List[Tuple[str, Entry]]):
        self.source = source
        self.path = path
        self.name = name
        self.entry = entry
        self.members = members

    @property
    def is_dir(self) -> bool:
        return self.entry.kind == DIR

    def __repr__(self) -> str:
        return "SourceItem(%r -> %r, %d members)" % (self.source, self.path, len(self.members))


def named_source(path: str) -> Tuple[str, str]:
    """The same rule for a host path the user named (oci_build's ``steps``): (what is copied,
    under which name): the path itself is followed (a link to a file brings the file, a link
    to a directory its content) and keeps the last name it was given."""
    return os.path.realpath(path), os.path.basename(os.path.normpath(path))


def _clean_source(source: str) -> str:
    return go_clean("/" + source).lstrip("/") or "."


def _glob(snapshot: Snapshot, source: str, cleaned: str) -> List[str]:
    candidates = ["."]
    for part in [p for p in cleaned.split("/") if p not in ("", ".")]:
        wild = has_wildcards(part) or "\\" in part
        pattern = PathPattern(part) if wild else None
        following = []
        for base in candidates:
            directory = snapshot.resolve(base)
            if directory is None or snapshot.entries[directory].kind != DIR:
                continue
            prefix = "" if directory == "." else directory + "/"
            if pattern is None:
                following.append(prefix + part)
                continue
            following.extend(prefix + name for name in snapshot.children[directory] if pattern.matches(name))
        candidates = following
    found = [c for c in candidates if snapshot.resolve(c, follow_last=False) is not None]
    if not found:
        raise ContextError("COPY source %r matches nothing in the build context%s" % (source, _ignored_note(snapshot)))
    return found


def _ignored_note(snapshot: Snapshot) -> str:
    if snapshot.rules and snapshot.rules.source:
        return " (or what it names is excluded by %s)" % snapshot.rules.source
    return ""


def _missing(snapshot: Snapshot, source: str, path: str) -> ContextError:
    reason = snapshot.skipped.get(path)
    if reason:
        return ContextError("COPY source %r: %s" % (source, reason))
    return ContextError("COPY source %r: no such file or directory in the build context%s"
                        % (source, _ignored_note(snapshot)))


def select_sources(snapshot: Snapshot, sources: Sequence[str]) -> List[SourceItem]:
    """The items a COPY/ADD of ``sources`` (context-relative, as written) copies, in order."""
    items = []
    for source in sources:
        if not source:
            raise ContextError("COPY source is empty")
        cleaned = _clean_source(source)
        paths = _glob(snapshot, source, cleaned) if has_wildcards(cleaned) else [cleaned]
        for path in paths:
            resolved = snapshot.resolve(path)
            if resolved is None:
                if snapshot.resolve(path, follow_last=False) is not None:
                    raise ContextError("COPY source %r: %s is a symlink to nothing in the build context" % (source, path))
                raise _missing(snapshot, source, path)
            entry = snapshot.entries[resolved]
            name = path.rpartition("/")[2] or "."
            if entry.kind == DIR:
                prefix_len = 0 if resolved == "." else len(resolved) + 1
                members = [(member.path[prefix_len:], member) for member in snapshot.walk(resolved)]
            else:
                members = [(name, entry)]
            items.append(SourceItem(source, resolved, name, entry, members))
    return items
