# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cache key of one build step (``layers: true``).

A step's key is the sha256 of a canonical JSON document of everything its result depends on:

- ``parent``: the key of the previous step of the stage, or for the first step the digest
  of the base image (its config digest, as buildah keys on the parent image ID), or
  ``scratch``. Chaining keys, rather than naming the parent layer, lets a build decide
  every hit before running anything, and makes a key depend on every step before it;
- ``instruction``: the instruction's text after expansion (flags included: ``--chown``,
  ``--chmod``, ``--from``, mounts...), so a changed ARG value used in it changes the key;
- ``build_args``: the build arguments in effect for the step (name and value), which
  reach a RUN's environment even when its text does not name them, as in docker;
- ``content``: for COPY and ADD from the context, ``build.context.digest.content_digest``
  of what is copied (paths, types, modes, content and link targets, never mtimes), so that
  touching a file keeps the cache and changing its bytes does not; for ``COPY --from``
  the digest of the source stage's result; None for steps that copy nothing.

A failed step gets no key recorded: the caller stores a key only with a committed layer.
"""

from __future__ import annotations

import hashlib
import json

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Mapping, Optional

_VERSION = 1


def step_cache_key(parent: str, instruction: str, build_args: Optional[Mapping[str, str]] = None,
                   content: Optional[str] = None) -> str:
    """``sha256:HEX`` of one step's inputs (see the module docstring)."""
    document = {
        "version": _VERSION,
        "parent": parent,
        "instruction": instruction,
        "build_args": sorted([str(k), str(v)] for k, v in (build_args or {}).items()),
        "content": content,
    }
    data = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(data.encode("ascii")).hexdigest()
