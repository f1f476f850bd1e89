# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Dockerfile build's inputs, whose fingerprint decides whether it is a no-op (build.record):
the Dockerfile as oci_build gives it, the context as the build sees it, the options.

Light on purpose: build.quick computes the same inputs before the engine is imported.
"""

from __future__ import annotations

import os

from ..context.snapshot import DIR, FILE, Snapshot
from ..errors import BuildError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

MAX_CONTAINERFILE = 4 * 1024 * 1024


def read_containerfile(path: str) -> str:
    """The text of a Dockerfile on the host (bounded, UTF-8); BuildError naming the path."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONTAINERFILE + 1)
    except OSError as err:
        raise BuildError("containerfile %s: %s" % (path, err.strerror or err))
    if len(data) > MAX_CONTAINERFILE:
        raise BuildError("containerfile %s is larger than %d bytes" % (path, MAX_CONTAINERFILE))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BuildError("containerfile %s is not UTF-8: %s" % (path, err))


def containerfile_and_context(containerfile: Optional[str], containerfile_text: Optional[str],
                              context: Optional[str]) -> Tuple[str, str]:
    """oci_build's ``containerfile`` (a path) or ``containerfile_text``, as (text, context
    directory); the context defaults to the Dockerfile's directory."""
    if containerfile:
        return read_containerfile(containerfile), context or os.path.dirname(os.path.abspath(containerfile))
    if not context:
        raise BuildError("context is required with containerfile_text (the directory COPY and ADD read from)")
    return containerfile_text or "", context


def strings(value: Optional[Dict[Any, Any]], what: str) -> Dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BuildError("%s must be a mapping of names to values" % what)
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def context_entries(snapshot: Snapshot) -> Dict[str, str]:
    """Every entry of the context as the build sees it: path -> kind, mode and content digest."""
    entries = {}
    for entry in snapshot.walk():
        if entry.kind == FILE:
            what = snapshot.file_sha256(entry)
        elif entry.kind == DIR:
            what = ""
        else:
            what = entry.target or ""
        entries[entry.path] = "%s:%o:%s" % (entry.kind, entry.mode, what)
    return entries


def dockerfile_inputs(text: str, snapshot: Snapshot, *, target: Optional[str], build_args: Dict[str, str],
                      images: Dict[str, Optional[str]], secrets: List[str], layers: bool, squash: bool,
                      epoch: Optional[int], image_format: str, compression: str, labels: Dict[str, str],
                      annotations: Dict[str, str], platform: Optional[str]) -> Dict[str, Any]:
    """The inputs (``images``: name -> digest of every base and ``--from`` image; the
    mappings already ``strings``; ``epoch`` already build.record.source_date_epoch)."""
    return {
        "dockerfile": text,
        "target": target or "",
        "build_args": dict(sorted(build_args.items())),
        "images": dict(sorted(images.items())),
        "secrets": sorted(secrets),
        "context": context_entries(snapshot),
        "options": {"layers": bool(layers), "squash": bool(squash), "source_date_epoch": epoch,
                    "format": image_format, "compression": compression, "labels": labels,
                    "annotations": annotations, "platform": platform},
    }
