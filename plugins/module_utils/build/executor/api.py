# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``build_dockerfile``: build a Dockerfile / Containerfile into the store, idempotently.

The inputs are the Dockerfile text, the target, the build args, every base and ``--from``
image's digest (pulled through the image service when missing, with its registry options),
the context as the build sees it (each entry the ignore file keeps: type, mode, content or
link target; never mtimes) and the options. Their fingerprint is kept as in oci_build's steps
(build.service: the manifest annotation and the build record); an image with the same
fingerprint is not rebuilt. Secrets are inputs by id only: their content is never written
anywhere but the RUN's tmpfs mount.
"""

from __future__ import annotations

import contextlib
import os

from ...image.ops import ImageService
from ...image.outcome import Outcome
from ...storage.mounts import MountManager
from ..builder import Build, BuildSettings, base_image
from ..cache import LayerCache
from ..context.snapshot import open_context
from ..context.stat_cache import kept_digests
from ..dockerfile.document import Dockerfile, parse_dockerfile
from ..dockerfile.instructions import Copy, Run
from ..dockerfile.shell import Lex
from ..errors import BuildError
from ..layers import layer_media_type
from ..record import FINGERPRINT, compare, finish_built, source_date_epoch
from ..working import BaseImage, WorkingContainer, clean_stale_builds
from .execute import StageExecutor
from .inputs import dockerfile_inputs, strings
from .stages import global_args, needed_stages, platform_args, stage_base, stage_index
from .state import BuildState, StageResult

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple


#: the docker format's config keys with their zero values, as docker and buildah write them
DOCKER_ZERO_FIELDS = (("Domainname", ""), ("User", ""), ("AttachStdin", False), ("AttachStdout", False),
                      ("AttachStderr", False), ("Tty", False), ("OpenStdin", False), ("StdinOnce", False),
                      ("Image", ""), ("Volumes", {}), ("Entrypoint", []), ("OnBuild", []))


def _external_images(dockerfile: Dockerfile, order: List[int], args: Dict[str, str]) -> List[Tuple[str, str]]:
    """(image, platform) of every base and ``--from`` image the needed stages use."""
    lex = Lex(dockerfile.escape)
    found = []
    for index in order:
        stage = dockerfile.stages[index]
        base = stage_base(dockerfile, index, args)
        platform = lex.process_word(stage.source.platform, args) if stage.source.platform else ""
        if base != "scratch" and stage_index(dockerfile, base, index) is None:
            found.append((base, platform))
        for instruction in stage.instructions:
            names = [instruction.from_] if isinstance(instruction, Copy) and instruction.from_ else []
            if isinstance(instruction, Run):
                names += [m.from_ for m in instruction.mounts if m.from_]
            for name in names:
                name = lex.process_word(name, args)
                if stage_index(dockerfile, name, index) is None:
                    found.append((name, ""))
    return found


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
    if not isinstance(containerfile_text, str) or not containerfile_text.strip():
        raise BuildError("the Containerfile is empty")
    if not context_dir or not os.path.isdir(context_dir):
        raise BuildError("the build context %r is not a directory" % (context_dir,))
    dockerfile = parse_dockerfile(containerfile_text)
    build_args = strings(build_args, "build_args")
    secrets = strings(secrets, "secrets")
    for ident, path in secrets.items():
        if not os.path.isfile(path):
            raise BuildError("secret %s: %s is not a readable file" % (ident, path))
    settings = BuildSettings(image_format=image_format, compression=compression, epoch=source_date_epoch(epoch),
                             squash=bool(squash), labels=strings(labels, "labels"),
                             annotations=strings(annotations, "annotations"), runtime=runtime)
    layer_media_type(image_format, compression)
    if settings.annotations and image_format == "docker":
        raise BuildError("format docker has no manifest annotations: use format oci, or labels")
    predefined = platform_args(platform)
    gargs = global_args(dockerfile, build_args, predefined)
    lookup = dict(predefined, **gargs)
    order = needed_stages(dockerfile, target, lookup)
    snapshot = open_context(context_dir, containerfile_path)
    ref_name = str(service.local_name(name))
    outcome = Outcome()
    images: Dict[str, Any] = {}
    for image, image_platform in _external_images(dockerfile, order, lookup):
        if image in images:
            continue
        pulled = service.present(image, pull="missing", platform=image_platform or platform)
        outcome.actions.extend(pulled.actions)
        outcome.warnings.extend(pulled.warnings)
        resolved = pulled.resolved
        if resolved is None:
            if not service.check_mode:
                raise BuildError("image %s could not be made present" % image)
            images[image] = (image, None, None, None)  # check mode pulls nothing: a build would happen
            continue
        images[image] = (image, resolved.manifest.digest, resolved.config, resolved.manifest.layers)
    inputs = dockerfile_inputs(containerfile_text, snapshot, target=target, build_args=build_args,
                               images={k: v[1] for k, v in images.items()}, secrets=list(secrets), layers=layers,
                               squash=settings.squash, epoch=settings.epoch, image_format=image_format,
                               compression=compression, labels=settings.labels, annotations=settings.annotations,
                               platform=platform)
    current = service.local_image(ref_name)
    differs = compare(outcome, service.storage_root, ref_name, current, inputs, force)
    if differs is None:
        return outcome
    fingerprint = differs["fingerprint"]
    if service.check_mode:
        outcome.actions.append("would build %s (stages %s)" % (ref_name, ", ".join(str(i) for i in order)))
        outcome.after["digest"] = None
        return outcome
    store = service.store()
    MountManager(store, service.run_root).repair()
    clean_stale_builds(store)
    settings.annotations = dict(settings.annotations, **{FINGERPRINT: fingerprint}) if image_format == "oci" else {}
    with contextlib.ExitStack() as stack:
        roots: Dict[str, str] = {}

        def image_root(image: str) -> str:
            if image not in images:
                raise BuildError("%s is neither a stage nor an image of this build" % image)
            if image not in roots:
                item = images[image]
                container = stack.enter_context(WorkingContainer(store, service.run_root,
                                                                 base_image(*item), "build-from:%s" % image))
                roots[image] = container.rootfs
            return roots[image]

        state = BuildState(dockerfile=dockerfile, store=store, run_root=service.run_root, context_dir=snapshot.root,
                           snapshot=snapshot, global_args=gargs, build_args=build_args, predefined=predefined,
                           secrets=secrets, layers=bool(layers), cache=None if no_cache else LayerCache(store),
                           settings=settings, images=images, image_root=image_root)
        source = None
        for index in order:
            final = index == order[-1]
            start, key, blobs = _stage_start(state, index, lookup, platform)
            stage_settings = settings if final else BuildSettings(
                image_format=image_format, compression=compression, epoch=settings.epoch, runtime=runtime)
            container = stack.enter_context(WorkingContainer(store, service.run_root, start, "build:%s" % ref_name))
            build = Build(store, container, stage_settings)
            executor = StageExecutor(state, index, build, key)
            executor.base_name = stage_base(dockerfile, index, lookup)
            executor.from_stage = stage_index(dockerfile, executor.base_name, index) is not None
            executor.run_all(dockerfile.stages[index].instructions)
            state.log.extend(build.log)
            build.log = []
            if final:
                if image_format == "docker":
                    for field, zero in DOCKER_ZERO_FIELDS:
                        build.config.setdefault("config", {}).setdefault(field, zero)
                source = build.finish(ref_name)
                source.blobs = dict(blobs, **source.blobs)
                state.log.extend(build.log)
            else:
                build.commit()
                state.results[index] = _result(build, blobs, executor.key)
        loaded = service.present(ref_name, image_source=source)
    outcome.actions.extend(state.log)
    unused = sorted(set(build_args) - state.used_args - set(gargs))
    if unused:
        outcome.warnings.append("build_args not consumed by any ARG: %s" % ", ".join(unused))
    return finish_built(outcome, service.storage_root, ref_name, source.manifest.digest, loaded, fingerprint, inputs,
                        kept_digests(snapshot))


def _stage_start(state: BuildState, index: int, args: Dict[str, str],
                 platform: Optional[str]) -> Tuple[BaseImage, str, Dict[str, str]]:
    """The BaseImage a stage starts from, the cache key it starts with, and the blobs it inherits."""
    base = stage_base(state.dockerfile, index, args)
    found = stage_index(state.dockerfile, base, index)
    if found is not None:
        parent = state.results[found]
        start = BaseImage(name="stage %s" % base, digest=None, config=parent.config, layers=parent.layers,
                          diff_ids=parent.diff_ids)
        return start, parent.key, dict(parent.blobs)
    if base == "scratch":
        start = base_image(None, None, None, None)
        if platform:
            for key, value in platform_args(platform).items():
                if key == "TARGETOS":
                    start.config["os"] = value
                elif key == "TARGETARCH":
                    start.config["architecture"] = value
        return start, "scratch", {}
    item = state.images[base]
    return base_image(*item), item[1], {}


def _result(build: Build, blobs: Dict[str, str], key: str) -> StageResult:
    config = dict(build.config)
    config["history"] = list(build.history)
    config["rootfs"] = {"type": "layers", "diff_ids": list(build.container.diff_ids)}
    return StageResult(config=config, layers=list(build.container.layers), diff_ids=list(build.container.diff_ids),
                       blobs=dict(blobs, **build.container.blobs), rootfs=build.container.mount(), key=key)
