# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""oci_build in engine terms: build an image from steps into the store, idempotently.

The build's inputs (steps.py: normalised steps, base image digest, content of copied files,
options) have a fingerprint, kept as the manifest annotation ``io.undock.build.fingerprint`` of
the image it made, and, for ``--diff``, the inputs themselves in
``<store>/build-records/<sha256 of name>.json``. An image whose fingerprint matches is not
rebuilt (changed: false). Check mode builds nothing and writes nothing. The image enters the
store through ImageService.present, the one copy path.
"""

from __future__ import annotations

from ..image.ops import ImageService
from ..image.outcome import Outcome
from ..storage.mounts import MountManager
from .builder import Build, BuildSettings, base_image, execute
from .cache import LayerCache
from .errors import BuildError
from .layers import layer_media_type
from .record import FINGERPRINT, compare, finish_built, source_date_epoch
from .steps import normalize_steps, step_sources
from .working import WorkingContainer, clean_stale_builds

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Optional


def build_image(service: ImageService, name: str, steps: Any, *, layers: bool = True, squash: bool = False,
                epoch: Any = None, image_format: str = "oci", compression: str = "gzip",
                labels: Optional[Dict[str, str]] = None, annotations: Optional[Dict[str, str]] = None,
                platform: Optional[str] = None, context: Optional[str] = None, runtime: str = "runc",
                build_args: Optional[Dict[str, str]] = None, force: bool = False, no_cache: bool = False) -> Outcome:
    """Make ``name`` the image ``steps`` build (see the module docstring)."""
    normalized = normalize_steps(steps, context)
    settings = BuildSettings(image_format=image_format, compression=compression, epoch=source_date_epoch(epoch),
                             squash=bool(squash), labels={str(k): str(v) for k, v in (labels or {}).items()},
                             annotations={str(k): str(v) for k, v in (annotations or {}).items()}, runtime=runtime)
    layer_media_type(image_format, compression)  # a bad format or compression fails before anything is done
    if settings.annotations and image_format == "docker":
        raise BuildError("format docker has no manifest annotations: use format oci, or labels")
    ref_name = str(service.local_name(name))
    outcome = Outcome()
    base_name = normalized[0]["image"]
    base = None
    if base_name != "scratch":
        pulled = service.present(base_name, pull="missing", platform=platform)
        outcome.actions.extend(pulled.actions)
        outcome.warnings.extend(pulled.warnings)
        base = pulled.resolved
    inputs = {
        "steps": [{k: v for k, v in s.items() if v not in (None, {}, [])} for s in normalized],
        "base": {"name": base_name, "digest": base.manifest.digest if base is not None else None},
        "sources": step_sources(normalized),
        "build_args": dict(sorted((build_args or {}).items())),
        "options": {"layers": bool(layers), "squash": settings.squash, "source_date_epoch": settings.epoch,
                    "format": image_format, "compression": compression, "labels": settings.labels,
                    "annotations": settings.annotations, "platform": platform},
    }
    current = service.local_image(ref_name)
    differs = compare(outcome, service.storage_root, ref_name, current, inputs, force)
    if differs is None:
        return outcome
    fingerprint = differs["fingerprint"]
    if service.check_mode:
        outcome.actions.append("would build %s from %s (%d steps)" % (ref_name, base_name, len(normalized)))
        outcome.after["digest"] = None
        return outcome
    store = service.store()
    MountManager(store, service.run_root).repair()  # a killed build's mount goes before its directories
    clean_stale_builds(store)
    settings.annotations = dict(settings.annotations, **{FINGERPRINT: fingerprint})
    if image_format == "docker":
        settings.annotations = {}  # no place for it: the record alone keeps the fingerprint
    start = base_image(base_name if base is not None else None, base.manifest.digest if base else None,
                       base.config if base else None, base.manifest.layers if base else None)
    # no store lock is held here: present() takes its own, and collects garbage after a
    # replacement; the working container's mount record keeps its layers from collection
    with WorkingContainer(store, service.run_root, start, "build:%s" % ref_name) as container:
        build = Build(store, container, settings)
        execute(build, normalized, layers=layers, cache=None if no_cache else LayerCache(store),
                build_args=build_args)
        source = build.finish(ref_name)
        loaded = service.present(ref_name, image_source=source)
    outcome.actions.extend(build.log)
    return finish_built(outcome, service.storage_root, ref_name, source.manifest.digest, loaded, fingerprint, inputs)
