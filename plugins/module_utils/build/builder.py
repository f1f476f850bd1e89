# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Executing build steps on a working container: the engine a Dockerfile executor drives too.

``Build`` holds the image being made (config, manifest annotations, history, layers) over a
WorkingContainer, and has one method per primitive: ``run``, ``host``, ``copy``, ``add``,
``config``, ``commit`` and ``finish`` (squash, labels, documents, and the ImageSource that the
image service copies into the store). A Dockerfile's FROM / RUN / COPY / ADD / ENV... map onto
these one to one; each filesystem step leaves one history entry, a layer per ``commit``.
"""

from __future__ import annotations

import copy
import json
import os
import shlex

from ..model.platform import host_platform
from ..storage.layers import image_diff_ids
from ..storage.store import Store
from .cache import LayerCache, segment_key
from .config import apply_config
from .errors import BuildError
from .files import apply_tree, copy_into, extract_into, fetch_url, is_archive, resolve_chown
from .image import BuiltImageSource, image_documents, timestamp
from .layers import layer_media_type
from .run import run_in_container, run_on_host
from .working import BaseImage, WorkingContainer

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple


class BuildSettings:
    __slots__ = ("image_format", "compression", "epoch", "squash", "labels", "annotations", "runtime")

    def __init__(self, image_format: str = "oci", compression: str = "gzip", epoch: Optional[int] = None,
                 squash: bool = False, labels: Optional[Dict[str, str]] = None,
                 annotations: Optional[Dict[str, str]] = None, runtime: str = "runc"):
        self.image_format = image_format
        self.compression = compression
        self.epoch = epoch
        self.squash = squash
        self.labels = {} if labels is None else labels
        self.annotations = {} if annotations is None else annotations
        self.runtime = runtime


def base_image(name: Optional[str], digest: Optional[str], config: Optional[Dict[str, Any]],
               layers: Optional[List[Dict[str, Any]]]) -> BaseImage:
    """The BaseImage of a resolved store image, or of ``scratch`` (name None)."""
    if name is None:
        platform = host_platform()
        return BaseImage(config={"architecture": platform.architecture, "os": platform.os,
                                 "rootfs": {"type": "layers", "diff_ids": []}, "config": {}})
    config = copy.deepcopy(config or {})
    return BaseImage(name=name, digest=digest, config=config, layers=list(layers or []),
                     diff_ids=image_diff_ids(config))


class Build:
    """One build (see the module docstring). Use inside ``with WorkingContainer(...)``."""

    def __init__(self, store: Store, container: WorkingContainer, settings: BuildSettings):
        self.store = store
        self.container = container
        self.settings = settings
        self.media_type = layer_media_type(settings.image_format, settings.compression)
        self.config = copy.deepcopy(container.base.config)
        self.config.pop("created", None)
        self.config.setdefault("config", {})
        self.history: List[Dict[str, Any]] = list(self.config.pop("history", None) or [])
        if sum(1 for h in self.history if not h.get("empty_layer")) != len(container.layers):
            # a base whose history does not match its layers: one plain entry per base layer
            self.history = [{"comment": "layer of %s" % container.base.name} for dummy in container.layers]
        self.annotations: Dict[str, str] = {}
        self.pending: List[Dict[str, Any]] = []   # history entries of changes not yet committed
        self.log: List[str] = []
        # an upper directory holding only directories copied up unchanged is no layer (Ansible's
        # tasks in a kept container: each command's stubs leave /etc); steps keep buildah's layers
        self.skip_copied_up = False

    # -- history -----------------------------------------------------------------------
    def _entry(self, created_by: str, empty: bool, comment: Optional[str] = None) -> Dict[str, Any]:
        entry: Dict[str, Any] = {"created": timestamp(self.settings.epoch), "created_by": created_by}
        if comment:
            entry["comment"] = comment
        if empty:
            entry["empty_layer"] = True
        return entry

    def _changed(self, created_by: str) -> None:
        self.pending.append(dict(self._entry(created_by, True), _fs=True))

    def note_change(self, created_by: str) -> None:
        """A change made outside these primitives (Ansible tasks in a kept container), for the history."""
        self._changed(created_by)

    # -- primitives --------------------------------------------------------------------
    def run(self, argv: List[str], env: Optional[Dict[str, str]] = None, user: Optional[str] = None,
            working_dir: Optional[str] = None, network: str = "host", volumes: Optional[List[str]] = None,
            timeout: Optional[float] = None, mounts: Optional[List[Dict[str, Any]]] = None,
            created_by: Optional[str] = None) -> str:
        result = run_in_container(self.container, argv, self.config, env=env, user=user, working_dir=working_dir,
                                  network=network, volumes=volumes or [], timeout=timeout, runtime=self.settings.runtime,
                                  mounts=mounts or [])
        self._changed(created_by or "RUN " + shlex.join(argv))
        return result.output

    def host(self, argv: List[str], env: Optional[Dict[str, str]] = None, timeout: Optional[float] = None,
             cwd: Optional[str] = None) -> str:
        result = run_on_host(self.container, argv, env=env, timeout=timeout, cwd=cwd)
        self._changed("HOST " + shlex.join(argv))
        return result.output

    def _working_dir(self) -> str:
        return str(self.config["config"].get("WorkingDir") or "/")

    def copy(self, sources: List[str], dest: str, chown: Any = None, chmod: Optional[int] = None,
             created_by: Optional[str] = None, follow: bool = False, into: Optional[str] = None) -> int:
        """``follow``: the sources are paths the user named (files.named_source), not staged ones.
        ``into``: an empty directory to copy into instead of the rootfs (a linked copy's tree, see
        ``link``); names in ``chown`` are still the image's, and no history entry is made."""
        rootfs = self.container.mount()
        owner = resolve_chown(rootfs, chown) or (0, 0)
        count = copy_into(into or rootfs, sources, dest, self._working_dir(), owner, chmod, follow=follow)
        if into is None:
            self._changed(created_by or "COPY %s%s %s" % ("--chown=%s " % chown if chown else "", " ".join(sources),
                                                          dest))
        return count

    def add(self, sources: List[str], dest: str, chown: Any = None, chmod: Optional[int] = None,
            checksum: Optional[str] = None, created_by: Optional[str] = None, follow: bool = False,
            into: Optional[str] = None) -> int:
        """Local archives are unpacked; URLs are downloaded (not unpacked, as docker); other
        files are copied (``follow`` and ``into`` as for ``copy``)."""
        image_root = self.container.mount()
        owner = resolve_chown(image_root, chown)
        rootfs = into or image_root
        count = 0
        for source in sources:
            if source.startswith("http://") or source.startswith("https://"):
                path = fetch_url(source, self.container.dir, checksum)
                count += copy_into(rootfs, [path], dest, self._working_dir(), owner or (0, 0), chmod)
            elif os.path.isfile(source) and is_archive(source):
                count += extract_into(rootfs, source, dest, self._working_dir(), owner, chmod, self.container.dir)
            else:
                count += copy_into(rootfs, [source], dest if len(sources) == 1 else dest.rstrip("/") + "/",
                                   self._working_dir(), owner or (0, 0), chmod, follow=follow)
        if into is None:
            self._changed(created_by or "ADD %s%s %s" % ("--chown=%s " % chown if chown else "", " ".join(sources),
                                                         dest))
        return count

    def link(self, tree: str, created_by: str, own_layer: bool = True,
             layer: Optional[Dict[str, Any]] = None) -> Tuple[Optional[Dict[str, Any]], Dict[str, Any]]:
        """COPY --link / ADD --link: ``tree`` holds the copied files alone, with the parent
        directories of their destination, made in an empty directory without looking at the
        image. With ``own_layer`` it becomes a layer of its own over the committed ones (what is
        not committed yet is committed first), or ``layer`` ({desc, diff_id}: a cached one made
        from the same tree) is stacked instead. Without (``layers: false``, squash) the tree is
        put onto the rootfs as the layer would be merged (files.apply_tree). Returns (the
        layer or None, the history entry)."""
        if not own_layer or self.settings.squash:
            apply_tree(self.container.mount(), tree)
            self._changed(created_by)
            return None, self.pending[-1]
        self.commit()
        if layer is None:
            blob = self.container.stack_tree(tree, self.media_type, self.settings.compression, self.settings.epoch)
            layer = {"desc": blob.desc, "diff_id": blob.diff_id}
            self.log.append("linked layer %s (%d entries)" % (blob.desc["digest"], blob.entries))
        else:
            self.container.add_layer(layer["desc"], layer["diff_id"])
            self.log.append("reused linked layer %s" % layer["desc"]["digest"])
        entry = self._entry(created_by, False)
        self.history.append(entry)
        return layer, entry

    def configure(self, fields: Dict[str, Any], created_by: Optional[str] = None) -> None:
        apply_config(self.config, self.annotations, fields)
        self.pending.append(self._entry(created_by or "CONFIG " + json.dumps(fields, sort_keys=True), True))

    def note(self, created_by: str, changed_files: bool = False) -> None:
        """A history entry for a change made directly (a Dockerfile's SHELL, WORKDIR's directory)."""
        if changed_files:
            self._changed(created_by)
        else:
            self.pending.append(self._entry(created_by, True))

    def commit(self, message: Optional[str] = None) -> Optional[str]:
        """End a layer: the changes since the last commit; the digest of the new layer, or None
        when nothing changed (the steps' history entries stay, as empty layers)."""
        pending, self.pending = self.pending, []
        blob = None
        if not self.settings.squash:
            blob = self.container.commit_layer(self.media_type, self.settings.compression, self.settings.epoch,
                                               skip_copied_up=self.skip_copied_up)
        changes = [entry for entry in pending if entry.get("_fs")]
        for entry in pending:
            entry.pop("_fs", None)
        if blob is None:
            self.history.extend(pending)
            return None
        if not changes:
            changes = [self._entry("COMMIT", True)]
            pending.append(changes[0])
        changes[-1].pop("empty_layer", None)
        if message:
            changes[-1]["comment"] = message
        self.history.extend(pending)
        self.log.append("committed layer %s (%d entries)" % (blob.desc["digest"], blob.entries))
        return blob.desc["digest"]

    def reuse(self, record: Dict[str, Any]) -> None:
        """Take a cached part (cache.LayerCache): its layer, history entries and config."""
        layer = record.get("layer")
        if layer is not None:
            self.container.add_layer(layer["desc"], layer["diff_id"])
            self.log.append("reused cached layer %s" % layer["desc"]["digest"])
        created = timestamp(self.settings.epoch)
        self.history.extend(dict(entry, created=created) for entry in record["history"])
        self.config = copy.deepcopy(record["config"])
        self.annotations = dict(record["annotations"])

    # -- the image ---------------------------------------------------------------------
    def finish(self, name: str) -> BuiltImageSource:
        """Commit what is left, squash if asked, and return the image as a copy source."""
        self.commit()
        settings = self.settings
        if settings.squash:
            blob = self.container.squash(self.media_type, settings.compression, settings.epoch)
            self.history = [dict(h, empty_layer=True) for h in self.history]
            self.history.append(self._entry("SQUASH", False))
            self.log.append("squashed into layer %s" % blob.desc["digest"])
        if settings.labels:
            self.configure({"labels": dict(settings.labels)})
        if settings.annotations:
            self.annotations.update(settings.annotations)
        config = dict(self.config)
        config["created"] = timestamp(settings.epoch)
        config["rootfs"] = {"type": "layers", "diff_ids": list(self.container.diff_ids)}
        config["history"] = self.history
        if not config["config"]:
            del config["config"]
        if sum(1 for h in self.history if not h.get("empty_layer")) != len(self.container.layers):
            raise BuildError("internal error: the history of %s does not match its layers" % name)
        if not self.container.layers:
            raise BuildError("the image has no layer: a build from scratch must copy or run something")
        config_raw, manifest_raw = image_documents(config, self.container.layers, settings.image_format,
                                                   self.annotations)
        return BuiltImageSource(self.store, name, config_raw, manifest_raw, dict(self.container.blobs))


def _run_step(build: Build, step: Dict[str, Any]) -> None:
    kind = step["kind"]
    if kind == "run":
        build.run(step["command"], env=step.get("env"), user=step.get("user"), working_dir=step.get("working_dir"),
                  network=step.get("network") or "host", volumes=step.get("volumes"), timeout=step.get("timeout"))
    elif kind == "host":
        build.host(step["command"], env=step.get("env"), timeout=step.get("timeout"), cwd=step.get("chdir"))
    elif kind == "copy":
        build.copy(step["src"], step["dest"], step.get("chown"), step.get("chmod"), follow=True)
    elif kind == "add":
        build.add(step["src"], step["dest"], step.get("chown"), step.get("chmod"), step.get("checksum"), follow=True)
    elif kind == "config":
        build.configure(step["config"])


def segments(steps: List[Dict[str, Any]], layers: bool) -> List[List[Dict[str, Any]]]:
    """The steps after ``from`` cut into layers: each part ends with its ``commit`` step, if any.
    Without ``layers``, one part, and commit steps are dropped."""
    parts: List[List[Dict[str, Any]]] = [[]]
    for step in steps:
        if step["kind"] == "from":
            continue
        if step["kind"] == "commit":
            if layers:
                parts[-1].append(step)
                parts.append([])
            continue
        parts[-1].append(step)
    return [p for p in parts if p]


def execute(build: Build, steps: List[Dict[str, Any]], layers: bool = True, cache: Optional[LayerCache] = None,
            build_args: Optional[Dict[str, str]] = None) -> None:
    """Run normalised steps (steps.normalize_steps) on ``build``, one layer per part (see
    ``segments``). With a ``cache``, a part whose key (cache.segment_key) was built before is not
    run again: its layer, history and config are taken from the cache (not with squash)."""
    settings = {"format": build.settings.image_format, "compression": build.settings.compression,
                "epoch": build.settings.epoch}
    for part in segments(steps, layers):
        key = None
        if cache is not None and not build.settings.squash:
            key = segment_key(build.container.diff_ids, part, build.config, settings, build_args or {})
            record = cache.get(key)
            if record is not None:
                build.reuse(record)
                continue
        start = len(build.history)
        layer_count = len(build.container.layers)
        for step in part:
            _run_step(build, step)
        build.commit(part[-1].get("message") if part[-1]["kind"] == "commit" else None)
        if key is not None:
            made = None
            if len(build.container.layers) > layer_count:
                made = {"desc": build.container.layers[-1], "diff_id": build.container.diff_ids[-1]}
            cache.put(key, made, build.history[start:], build.config, build.annotations)
