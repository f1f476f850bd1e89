# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The manifest graph: what a manifest reaches through an index's ``manifests``, an image's
config and layers, and a ``subject`` (the manifest a referrer, such as a signature, is about).

Every walk over stored or archived images (garbage collection, checks, the layers an image
needs, what an archive keeps) goes through ``walk``; only how a manifest is fetched differs.
"""

from __future__ import annotations

from collections import namedtuple

from .manifest import Manifest

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

if TYPE_CHECKING:
    #: Given a descriptor in a manifest position, the parsed manifest to walk into, or None
    #: for one that is not to be opened (missing, not a manifest, unreadable).
    Fetch = Callable[[Dict[str, Any]], Optional[Manifest]]


class Reached(namedtuple("Reached", "desc manifest is_manifest")):
    """A position reached: desc (Dict[str, Any]), its descriptor; manifest (Optional[Manifest]),
    what ``fetch`` returned for a manifest position, None for a config or a layer; is_manifest
    (bool), a root, an entry of an index or a subject (as opposed to a config or a layer)."""

    __slots__ = ()


def children(manifest: Manifest) -> List[Tuple[Any, bool]]:
    """``(descriptor, is_manifest)`` for what ``manifest`` points at, in document order."""
    if manifest.is_index:
        found = [(desc, True) for desc in manifest.manifests]
    else:
        found = [(desc, False) for desc in [manifest.data.get("config")] + list(manifest.layers)]
    subject = manifest.data.get("subject")
    if isinstance(subject, dict):
        found.append((subject, True))
    return found


def walk(roots: Iterable[Dict[str, Any]], fetch: Fetch) -> Iterator[Reached]:
    """Each descriptor reachable from ``roots`` (manifest positions), once per digest.

    ``fetch`` is called for the roots, index entries and subjects; what it returns is walked
    into. Anything that is not a descriptor with a digest is passed over: a manifest read
    without schema validation (the store's own) may hold anything.
    """
    seen = set()
    pending: List[Tuple[Any, bool]] = [(desc, True) for desc in reversed(list(roots))]
    while pending:
        desc, is_manifest = pending.pop()
        digest = desc.get("digest") if isinstance(desc, dict) else None
        if not isinstance(digest, str) or not digest or digest in seen:
            continue
        seen.add(digest)
        manifest = fetch(desc) if is_manifest else None
        yield Reached(desc, manifest, is_manifest)
        if manifest is not None:
            pending.extend(reversed(children(manifest)))
