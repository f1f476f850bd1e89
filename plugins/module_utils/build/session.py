# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""oci_build's ``state=started|committed|absent``: builds driven by Ansible tasks.

``start`` makes a kept working container (build.kept) from the steps' ``from`` and runs the
other steps in it, as oci_build's steps do; Ansible then runs tasks in it through the
``undock.oci.oci`` connection, with the host's Python lent to it (build.hostpython).
``commit`` turns what changed since the last commit into one layer (a play's worth, or a
task's, as the play decides; or the connection commits after each task, ``layer_per_task``) and makes the image ``name`` of all its layers; it reports a
change only when that image's manifest digest differs from the stored one, which with a
``source_date_epoch`` happens only when the content differs. ``remove`` unmounts and
deletes the container.
"""

from __future__ import annotations

from ..image.ops import ImageService, describe_image
from ..image.outcome import Outcome
from ..storage.mounts import MountManager
from .builder import BuildSettings, base_image, execute
from .cache import LayerCache
from .errors import BuildError
from .hostpython import TMP_DIR, lend_python
from .kept import KeptContainers, kept_id
from .layers import layer_media_type
from .record import source_date_epoch
from .steps import normalize_steps
from .working import clean_stale_builds

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Optional


def _describe(kept: KeptContainers, name: str, state: Dict[str, Any]) -> Dict[str, Any]:
    python = state.get("python") or {}
    return {"name": name, "id": kept_id(name), "image": state.get("image"),
            "rootfs": "%s/builds/%s/rootfs" % (kept.run_root, kept_id(name)),
            "python_interpreter": python.get("interpreter"), "python": python.get("executable"),
            "remote_tmp": TMP_DIR, "storage_root": kept.store.root, "run_root": kept.run_root,
            "layer_per_task": bool(state.get("layer_per_task"))}


def start(service: ImageService, container: str, image: str, steps: Any, *, python: Optional[str],
          epoch: Any = None, image_format: str = "oci", compression: str = "gzip", platform: Optional[str] = None,
          context: Optional[str] = None, runtime: str = "runc", layers: bool = True, no_cache: bool = False,
          layer_per_task: bool = False) -> Outcome:
    """Start the kept working container ``container`` for the image ``image`` (see the module docstring).
    ``layer_per_task``: the connection commits a layer after each task that changed it (Kept.end_task)."""
    kept_id(container)
    normalized = normalize_steps(steps, context)
    layer_media_type(image_format, compression)
    settings = BuildSettings(image_format=image_format, compression=compression, epoch=source_date_epoch(epoch),
                             runtime=runtime)
    ref_name = str(service.local_name(image))
    outcome = Outcome()
    store = service.store()
    kept = KeptContainers(store, service.run_root) if store is not None else None
    if kept is not None and kept.exists(container):
        state = kept.read_state(container) or {}
        outcome.values["container"] = _describe(kept, container, state)
        outcome.before = outcome.after = {"container": container, "image": state.get("image")}
        return outcome
    outcome.changed = True
    outcome.before = {"container": None}
    outcome.after = {"container": container, "image": ref_name}
    lent = lend_python(python) if python else {}
    if service.check_mode:
        outcome.actions.append("would start working container %s from %s" % (container, normalized[0]["image"]))
        outcome.values["container"] = {"name": container, "id": kept_id(container), "image": ref_name,
                                       "python_interpreter": lent.get("interpreter"), "python": lent.get("executable"),
                                       "remote_tmp": TMP_DIR}
        return outcome
    base = None
    if normalized[0]["image"] != "scratch":
        pulled = service.present(normalized[0]["image"], pull="missing", platform=platform)
        outcome.actions.extend(pulled.actions)
        outcome.warnings.extend(pulled.warnings)
        base = pulled.resolved
    MountManager(store, service.run_root).repair()
    clean_stale_builds(store)
    start_image = base_image(normalized[0]["image"] if base is not None else None,
                             base.manifest.digest if base else None, base.config if base else None,
                             base.manifest.layers if base else None)
    kept.create(container, start_image, settings, lent, ref_name, layer_per_task=layer_per_task)
    try:
        with kept.open(container) as working:
            execute(working.build, normalized, layers=layers, cache=None if no_cache else LayerCache(store))
            outcome.actions.extend(working.build.log)
            working.binds()  # the temporary directory exists before the first task
    except BaseException:
        kept.remove(container)
        raise
    outcome.actions.append("started working container %s from %s" % (container, normalized[0]["image"]))
    outcome.values["container"] = _describe(kept, container, kept.read_state(container) or {})
    return outcome


def commit(service: ImageService, container: str, image: Optional[str], steps: Any = None,
           message: Optional[str] = None, remove: bool = False, context: Optional[str] = None) -> Outcome:
    """Commit the changes of ``container`` as a layer and make the image; ``remove`` it afterwards."""
    kept_id(container)
    extra = normalize_steps([{"from": "scratch"}] + list(steps or []), context)[1:]  # no from: a placeholder
    if any(s["kind"] == "commit" for s in extra):
        raise BuildError("steps of a commit cannot hold commit steps: each commit task makes one layer")
    outcome = Outcome()
    store = service.store()
    kept = KeptContainers(store, service.run_root) if store is not None else None
    state = kept.read_state(container) if kept is not None else None
    if state is None:
        raise BuildError("working container %s does not exist in the store %s: start it with oci_build "
                         "state=started" % (container, service.storage_root))
    ref_name = str(service.local_name(image or state["image"]))
    current = service.local_image(ref_name)
    outcome.before = {"digest": current.manifest.digest if current is not None else None}
    if service.check_mode:
        with kept.open(container) as working:
            layers = [d["digest"] for d in working.container.layers]
            stored = [d["digest"] for d in current.manifest.layers] if current is not None else None
            changes = working.container.has_changes() and not working.container.only_copied_up()
            outcome.changed = bool(extra) or changes or stored != layers
        outcome.after = {"digest": None if outcome.changed else outcome.before["digest"]}
        if outcome.changed:
            outcome.actions.append("would commit working container %s to %s" % (container, ref_name))
        if remove:
            outcome.actions.append("would remove working container %s" % container)
            outcome.values["removed"] = True
        return outcome
    with kept.open(container) as working:
        build = working.build
        for step in extra:
            execute(build, [step], layers=False)
        if working.container.has_changes() and not working.container.only_copied_up():
            build.note_change("ANSIBLE %s" % (message or "tasks"))
        build.commit(message)
        source = build.finish(ref_name)
        outcome.actions.extend(build.log)
        outcome.after = {"digest": source.manifest.digest}
        if current is not None and current.manifest.digest == source.manifest.digest:
            outcome.image = describe_image(ref_name, current)
            outcome.resolved = current
        else:
            loaded = service.present(ref_name, image_source=source)
            outcome.changed = True
            outcome.actions.append("committed %s (%s)" % (ref_name, source.manifest.digest))
            outcome.image = loaded.image
            outcome.resolved = loaded.resolved
    if remove:
        removed = remove_container(service, container)
        outcome.actions.extend(removed.actions)  # not a change of the image: changed stays the image's
        outcome.values["removed"] = removed.changed
    return outcome


def remove_container(service: ImageService, container: str) -> Outcome:
    outcome = Outcome()
    kept_id(container)
    store = service.store()
    if store is None:
        outcome.changed = False
    elif service.check_mode:
        outcome.changed = KeptContainers(store, service.run_root).exists(container)
    else:
        outcome.changed = KeptContainers(store, service.run_root).remove(container)
    if outcome.changed:
        outcome.actions.append("removed working container %s" % container)
    outcome.before = {"container": container if outcome.changed else None}
    outcome.after = {"container": None}
    return outcome
