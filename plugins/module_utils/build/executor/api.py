# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``build_dockerfile``: build a Dockerfile / Containerfile into the store, idempotently."""

from __future__ import annotations

from typing import Dict, Optional

from ...image.ops import ImageService
from ...image.outcome import Outcome
from ..errors import BuildError


def build_dockerfile(service: ImageService, name: str, containerfile_text: str, context_dir: str, *,
                     containerfile_path: Optional[str] = None, build_args: Optional[Dict[str, str]] = None,
                     target: Optional[str] = None, layers: bool = True, no_cache: bool = False,
                     secrets: Optional[Dict[str, str]] = None, squash: bool = False, epoch: object = None,
                     image_format: str = "oci", compression: str = "gzip",
                     labels: Optional[Dict[str, str]] = None, annotations: Optional[Dict[str, str]] = None,
                     platform: Optional[str] = None, runtime: str = "runc", force: bool = False) -> Outcome:
    """Build ``containerfile_text`` with ``context_dir`` as the context into the store of
    ``service`` under ``name``.

    ``containerfile_path``: where the text came from, for ``<file>.dockerignore`` (else
    ``.dockerignore`` / ``.containerignore`` of the context apply). ``secrets``: id -> host
    file, for ``RUN --mount=type=secret,id=...``. ``epoch``: source_date_epoch (seconds, or
    None for ``$SOURCE_DATE_EPOCH``). Base images are pulled through ``service`` (its registry
    options). Returns an Outcome: ``changed``, ``image`` (digest, config, layers, as
    oci_image), ``before``/``after`` for --diff and ``values['changed_inputs']``. Unchanged
    inputs -> changed False without building; check mode builds and writes nothing.
    BuildError (DockerfileError, ContextError are BuildErrors) for every bad input.
    """
    raise BuildError("the Dockerfile executor is not there yet")
