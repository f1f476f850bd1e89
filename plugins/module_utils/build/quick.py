# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The no-op of ``oci_build`` with a Dockerfile, answered before the build engine is imported.

A rebuild with nothing changed is the most common build task: it should cost the reading of
the Dockerfile, a walk of the context and the store's files, not the import of the engine
(through Ansible a module's Python is compiled on every run). This serves ``state: present``
from ``containerfile`` / ``containerfile_text``, without ``force``, ``push`` or ``platform``,
for an image name given in full, when the build's record lists the base and ``--from``
images it used and each is in the store under that full name (image.quick: what
``ImageService.present(pull=missing)`` returns without a request). The inputs are then those
the engine computes (executor.inputs, the same functions), and the decision is the engine's
own (record.compare): the same Outcome, or None.

The record's image names stand for the parse of the Dockerfile: they are a function of the
Dockerfile text, the build args, the target and the platform, all inputs themselves, so when
the names would differ the fingerprint differs too. A ``--platform`` in the Dockerfile makes
the engine pull for that platform, which image.quick does not serve: those builds go to the
engine. Anything else, or anything not as expected, returns None and the engine decides,
with its errors.
"""

from __future__ import annotations

import os

from ..common.errors import UndockError
from ..image.outcome import Outcome
from ..image.quick import unchanged as image_unchanged
from ..model.reference import parse_reference
from ..storage.peek import holds_store
from .context.snapshot import open_context
from .context.stat_cache import reuse_digests
from .executor.inputs import containerfile_and_context, dockerfile_inputs, strings
from .record import KEPT_DIGESTS, compare, read_record, source_date_epoch

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

#: Options that make the task more than a build, or that the quick answer does not serve.
ACTIONS = ("steps", "force", "push", "platform", "container")


def unchanged(params: Dict[str, Any]) -> Optional[Outcome]:
    """The Outcome of ``oci_build`` with these module ``params`` when the Dockerfile build is a
    no-op; None when the engine must decide (see the module docstring)."""
    if params.get("state", "present") != "present" or any(params.get(option) for option in ACTIONS):
        return None
    if params.get("containerfile") is None and params.get("containerfile_text") is None:
        return None
    root = params.get("storage_root")
    try:
        ref = parse_reference(params.get("name") or "")
        if ref.short_name or ref.digest or not root or not holds_store(root):
            return None
        return _unchanged(params, root, str(ref))
    except (UndockError, OSError, KeyError, TypeError, ValueError, AttributeError):
        return None  # the engine reads it again, and reports what is wrong


def _unchanged(params: Dict[str, Any], root: str, ref_name: str) -> Optional[Outcome]:
    record = read_record(root, ref_name)
    recorded = (record or {}).get("inputs") or {}
    if not isinstance(recorded.get("images"), dict):
        return None
    text, context = containerfile_and_context(params.get("containerfile"), params.get("containerfile_text"),
                                              params.get("context"))
    if "--platform" in text.lower() or not text.strip() or not os.path.isdir(context):
        return None
    images: Dict[str, Optional[str]] = {}
    for name in recorded["images"]:
        present = image_unchanged({"name": name, "storage_root": root, "pull": "missing"})
        if present is None or present.resolved is None:
            return None
        images[name] = present.resolved.manifest.digest
    secrets = strings(params.get("secrets"), "secrets")
    if not all(os.path.isfile(path) for path in secrets.values()):
        return None
    current = image_unchanged({"name": ref_name, "storage_root": root, "pull": "never"})
    if current is None or current.resolved is None:
        return None
    snapshot = open_context(context, params.get("containerfile"))
    reuse_digests(snapshot, (record or {}).get(KEPT_DIGESTS))  # files not changed since the build are not read
    inputs = dockerfile_inputs(text, snapshot, target=params.get("target"),
                               build_args=strings(params.get("build_args"), "build_args"), images=images,
                               secrets=list(secrets), layers=params.get("layers", True),
                               squash=bool(params.get("squash")), epoch=source_date_epoch(params.get("source_date_epoch")),
                               image_format=params.get("format") or "oci", compression=params.get("compression") or "gzip",
                               labels=strings(params.get("labels"), "labels"),
                               annotations=strings(params.get("annotations"), "annotations"), platform=None)
    outcome = Outcome()
    if compare(outcome, root, ref_name, current.resolved, inputs) is not None:
        return None
    return outcome
