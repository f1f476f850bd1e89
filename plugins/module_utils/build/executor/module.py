# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""oci_build's Dockerfile options to ``build_dockerfile``: the file read, the context found."""

from __future__ import annotations

from ...image.ops import ImageService
from ...image.outcome import Outcome
from .api import build_dockerfile
from .inputs import containerfile_and_context

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Optional


def build_from_params(service: ImageService, name: str, containerfile: Optional[str], containerfile_text: Optional[str],
                      context: Optional[str], **options: Any) -> Outcome:
    """Build from ``containerfile`` (a path) or ``containerfile_text``; the context defaults to
    the Dockerfile's directory."""
    text, context = containerfile_and_context(containerfile, containerfile_text, context)
    return build_dockerfile(service, name, text, context, containerfile_path=containerfile, **options)
