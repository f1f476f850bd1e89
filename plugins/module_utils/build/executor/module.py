# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""oci_build's Dockerfile options to ``build_dockerfile``: the file read, the context found."""

from __future__ import annotations

import os
from typing import Any, Optional

from ...image.ops import ImageService
from ...image.outcome import Outcome
from ..errors import BuildError
from .api import build_dockerfile

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


def build_from_params(service: ImageService, name: str, containerfile: Optional[str], containerfile_text: Optional[str],
                      context: Optional[str], **options: Any) -> Outcome:
    """Build from ``containerfile`` (a path) or ``containerfile_text``; the context defaults to
    the Dockerfile's directory."""
    if containerfile:
        text = read_containerfile(containerfile)
        context = context or os.path.dirname(os.path.abspath(containerfile))
    else:
        text = containerfile_text or ""
        if not context:
            raise BuildError("context is required with containerfile_text (the directory COPY and ADD read from)")
    return build_dockerfile(service, name, text, context, containerfile_path=containerfile, **options)
