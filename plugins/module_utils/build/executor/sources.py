# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""COPY/ADD sources made into host paths the engine's ``copy``/``add`` take.

Context sources are selected in the snapshot (build.context: links resolved inside the
context, ignored files absent) and staged, member by member, into a private directory of the
build: a file's bytes are read through ``Snapshot.open_file`` (the file that was walked, never
a link), symlinks are made as symlinks, so nothing outside the context and nothing ignored
can reach the copy. Sources of another stage or image are resolved inside that rootfs
(storage.rootfs.resolve_in_root). Heredoc sources are written as files.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

from ...common.fileutil import copy_fd_to_new
from ...storage.rootfs import resolve_in_root
from ..context.digest import content_digest
from ..context.snapshot import DIR, FILE, SYMLINK, Snapshot
from ..context.sources import SourceItem, select_sources
from ..dockerfile.instructions import SourceContent
from ..errors import BuildError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import List, Tuple


def _write_member(snapshot: Snapshot, entry, path: str) -> None:
    if entry.kind == DIR:
        os.makedirs(path, exist_ok=True)
        os.chmod(path, entry.mode)
    elif entry.kind == SYMLINK:
        os.symlink(entry.target or "", path)
    elif entry.kind == FILE:
        src = snapshot.open_file(entry)
        try:
            copy_fd_to_new(src, path)
        finally:
            os.close(src)
        os.chmod(path, entry.mode)


def _stage_item(snapshot: Snapshot, item: SourceItem, scratch: str) -> str:
    holder = tempfile.mkdtemp(prefix=".src-", dir=scratch)
    if item.is_dir:
        top = os.path.join(holder, "dir")
        os.mkdir(top)
        os.chmod(top, item.entry.mode)
        for rel, entry in item.members:
            _write_member(snapshot, entry, os.path.join(top, rel))
        return top
    name = item.name if item.name not in (".", "..", "") else "file"
    path = os.path.join(holder, name)
    _write_member(snapshot, item.entry, path)
    return path


def context_selection(snapshot: Snapshot, sources: List[str]) -> Tuple[List[SourceItem], str]:
    """What ``sources`` select in the context, and the content digest of it (the cache key's part)."""
    items = select_sources(snapshot, sources)
    return items, content_digest(snapshot, items)


def stage_items(snapshot: Snapshot, items: List[SourceItem], scratch: str) -> List[str]:
    """Host paths of the selected items, staged below ``scratch`` (see the module docstring)."""
    return [_stage_item(snapshot, item, scratch) for item in items]


def rootfs_sources(rootfs: str, sources: List[str], where: str) -> List[str]:
    """Host paths of ``sources`` inside another stage's or image's rootfs (links resolved inside)."""
    paths = []
    for source in sources:
        path = resolve_in_root(rootfs, "/" + source.lstrip("/"))
        if not os.path.lexists(path):
            raise BuildError("COPY --from=%s: %s does not exist there" % (where, source))
        paths.append(path)
    return paths


def heredoc_sources(contents: List[SourceContent], scratch: str) -> Tuple[List[str], str]:
    """Files with the heredocs' text (already expanded where they expand) and their digest."""
    holder = tempfile.mkdtemp(prefix=".heredoc-", dir=scratch)
    digest = hashlib.sha256()
    paths = []
    for content in contents:
        name = os.path.basename(content.path.rstrip("/")) or "heredoc"
        path = os.path.join(holder, name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(content.data)
        os.chmod(path, 0o644)
        digest.update(("%s\0%s\0" % (name, content.data)).encode("utf-8", "surrogateescape"))
        paths.append(path)
    return paths, "sha256:" + digest.hexdigest()
