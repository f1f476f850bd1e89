# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the image modules ask for, in engine terms: make an image present or absent, push,
export, inspect. Each call returns an ``Outcome`` with ``changed``, a before/after for
``--diff`` and the actions taken. In check mode nothing is written anywhere, the registry
and the store included; only read-only requests are made."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..common.errors import NotFoundError, RegistryError, StoreError, TransientError, UndockError
from ..registry.context import RegistryContext
from ..model.reference import Reference, parse_reference
from ..storage.layers import LayerStore
from ..storage.unpack import DEFAULT_MAX_SIZE as DEFAULT_MAX_LAYER_SIZE
from ..storage.layout import REF_NAME
from ..storage.store import DEFAULT_ROOT, DEFAULT_RUN_ROOT, SOURCE_DIGEST, SOURCE_REF, Store, original_manifest
from .copy import ResolvedImage, copy_image, resolve_image
from .interfaces import ImageSource
from .local import StoreImageDestination, StoreImageSource, layer_diff_ids

PULL_POLICIES = ("missing", "newer", "always", "never")
FILE_TRANSPORTS = ("oci:", "oci-archive:", "docker-archive:")


@dataclass
class Outcome:
    changed: bool = False
    actions: List[str] = field(default_factory=list)
    before: Dict[str, Any] = field(default_factory=dict)
    after: Dict[str, Any] = field(default_factory=dict)
    image: Optional[Dict[str, Any]] = None
    warnings: List[str] = field(default_factory=list)
    #: the image the store holds after the call (in check mode: would hold)
    resolved: Optional[ResolvedImage] = field(default=None, repr=False)

    def merge(self, other: "Outcome") -> "Outcome":
        self.changed = self.changed or other.changed
        self.actions.extend(other.actions)
        self.warnings.extend(other.warnings)
        self.after.update(other.after)
        for key, value in other.before.items():
            self.before.setdefault(key, value)
        self.image = other.image or self.image
        self.resolved = other.resolved or self.resolved
        return self


def describe_image(name: str, image: ResolvedImage) -> Dict[str, Any]:
    """The ``image`` return value, the same for local and remote images."""
    config = image.config
    container_config = config.get("config") or {}
    return {
        "name": name,
        "digest": image.manifest.digest,
        "id": image.manifest.config["digest"],
        "media_type": image.manifest.media_type,
        "source_digest": image.top_digest,
        "platform": "/".join(v for v in (image.platform.get("os"), image.platform.get("architecture"),
                                         image.platform.get("variant")) if v),
        "size": sum(int(d.get("size") or 0) for d in image.manifest.blobs()) + len(image.manifest.raw),
        "layers": [d["digest"] for d in image.manifest.layers],
        "config": container_config,
        "created": config.get("created"),
        "labels": container_config.get("Labels") or {},
    }


class ImageService:
    def __init__(self, storage_root: str = DEFAULT_ROOT, registry: Optional[RegistryContext] = None,
                 check_mode: bool = False, max_layer_size: int = DEFAULT_MAX_LAYER_SIZE,
                 run_root: str = DEFAULT_RUN_ROOT):
        self.storage_root = storage_root
        self.run_root = run_root
        self.max_layer_size = max_layer_size
        self.registry = registry or RegistryContext()
        self.check_mode = check_mode
        self._store: Optional[Store] = None

    # -- store ----------------------------------------------------------------------
    def store(self, create: bool = True) -> Optional[Store]:
        """The store; in check mode (or with create=False) None when it does not exist yet."""
        if self._store is None:
            exists = os.path.exists(os.path.join(self.storage_root, "oci-layout"))
            if not exists and (self.check_mode or not create):
                return None
            self._store = Store.open(self.storage_root, self.run_root, create=not self.check_mode)
            if not self.check_mode:
                LayerStore(self._store).clean_temporaries()
        return self._store

    def local_name(self, name: str) -> Reference:
        """The store name for ``name``: the first short-name candidate present, else the first one."""
        ref = parse_reference(name)
        candidates = self.registry.short_name_candidates(ref)
        store = self.store(create=False)
        if store is not None:
            for candidate in candidates:
                if store.lookup(str(candidate)) is not None:
                    return candidate
        return candidates[0]

    def local_image(self, ref_name: str) -> Optional[ResolvedImage]:
        store = self.store(create=False)
        if store is None or store.lookup(ref_name) is None:
            return None
        source = StoreImageSource(store, ref_name)
        image = resolve_image(source, platform=source.entry.get("platform"))
        image.top_digest = (source.entry.get("annotations") or {}).get(SOURCE_DIGEST, image.manifest.digest)
        return image

    # -- present --------------------------------------------------------------------
    def present(self, name: str, pull: str = "missing", platform: Optional[str] = None,
                source: Optional[str] = None) -> Outcome:
        if pull not in PULL_POLICIES:
            raise UndockError("pull must be one of %s, not %r" % (", ".join(PULL_POLICIES), pull))
        if source and source.startswith(FILE_TRANSPORTS) and pull != "never":
            pull = "always"  # a local file is cheap to compare, and may have changed
        requested = parse_reference(name)
        ref = self.local_name(name)
        ref_name = str(ref)
        local = self.local_image(ref_name)
        outcome = Outcome(before={"digest": local.manifest.digest if local else None})
        if local is not None and (pull in ("missing", "never") or (ref.digest and not source)):
            outcome.after = {"digest": local.manifest.digest}
            outcome.image = describe_image(ref_name, local)
            outcome.resolved = local
            self._ensure_unpacked(ref_name, local, outcome)
            return outcome
        if pull == "never":
            raise StoreError("image %s is not in the store %s and pull is never" % (ref_name, self.storage_root))

        try:
            src = self._open_source(source, requested if local is None else ref)
            if not source and local is None:  # a short name is stored where it was found
                ref_name = str(src.requested)  # type: ignore[attr-defined]
            remote = resolve_image(src, platform)
        except (TransientError, NotFoundError, RegistryError) as err:
            if local is not None and pull == "newer":
                outcome.warnings.append("could not check %s for a newer image, keeping the local one: %s"
                                        % (ref_name, err))
                outcome.after = {"digest": local.manifest.digest}
                outcome.image = describe_image(ref_name, local)
                outcome.resolved = local
                return outcome
            raise
        outcome.after = {"digest": remote.manifest.digest}
        outcome.image = describe_image(ref_name, remote)
        outcome.resolved = remote
        if local is not None and local.manifest.digest == remote.manifest.digest:
            self._ensure_unpacked(ref_name, local, outcome)
            return outcome
        outcome.changed = True
        verb = "pull" if isinstance(src.origin, Reference) else "load"
        verb = "would " + verb if self.check_mode else verb + "ed"
        if self.check_mode:
            outcome.actions.append("%s %s from %s (%s)" % (verb, ref_name, src.describe(), remote.manifest.digest))
            return outcome
        store = self.store()
        annotations = {SOURCE_DIGEST: remote.top_digest}
        if isinstance(src.origin, Reference):
            annotations[SOURCE_REF] = str(src.origin.with_tag(None).with_digest(None))
        destination = StoreImageDestination(store, ref_name, max_layer_size=self.max_layer_size)
        try:
            result = copy_image(src, destination, image=remote, annotations=annotations)
        finally:
            destination.close()
            src.close()
        outcome.actions.append("%s %s from %s (%s, %d blobs, %d bytes)"
                               % (verb, ref_name, src.describe(), remote.manifest.digest,
                                  len(result.blobs_copied), result.bytes_copied))
        if local is not None and local.manifest.digest != remote.manifest.digest:
            store.collect_garbage()
        return outcome

    def _ensure_unpacked(self, ref_name: str, image: ResolvedImage, outcome: Outcome) -> None:
        """Unpack from the stored blobs any layer of a present image that is not unpacked
        (a store written before layers were kept, or a layer removed by hand)."""
        store = self.store(create=False)
        layers = LayerStore(store, self.max_layer_size)
        diff_ids = layer_diff_ids(image.manifest, image.config)
        missing = [d for d in image.manifest.layers if not layers.has(diff_ids[d["digest"]])]
        if not missing:
            return
        outcome.changed = True
        if self.check_mode:
            outcome.actions.append("would unpack %d layers of %s" % (len(missing), ref_name))
            return
        source = StoreImageSource(store, ref_name)
        with store.writing():
            for desc in missing:
                layers.pull(desc, diff_ids[desc["digest"]], source.blob_opener(desc))
        outcome.actions.append("unpacked %d layers of %s" % (len(missing), ref_name))

    def _open_source(self, source: Optional[str], ref: Reference) -> ImageSource:
        if source and source.startswith(FILE_TRANSPORTS):
            from .transports import open_source
            return open_source(source)
        from .remote import open_pull_source
        return open_pull_source(self.registry, parse_reference(source) if source else ref)

    # -- absent ---------------------------------------------------------------------
    def absent(self, name: str, force: bool = False) -> Outcome:
        """Remove the image; refused (ImageInUseError naming each user) while it is mounted,
        unless ``force``, which unmounts first."""
        from ..storage.layers import collect_layers
        from ..storage.mounts import MountManager
        ref_name = str(self.local_name(name))
        store = self.store(create=False)
        entry = store.lookup(ref_name) if store is not None else None
        outcome = Outcome(before={"digest": original_manifest(entry)["digest"] if entry else None},
                          after={"digest": None})
        if entry is None:
            return outcome
        outcome.changed = True
        mounts = MountManager(store, self.run_root)
        if self.check_mode:
            outcome.actions.extend(mounts.release(ref_name, force=force, dry_run=True))
            outcome.actions.append("would remove %s" % ref_name)
            return outcome
        with mounts.lock():
            mounts.repair()
            outcome.actions.extend(mounts.release(ref_name, force=force))
            store.untag(ref_name)
        freed = store.collect_garbage()
        layers = collect_layers(store, keep=mounts.diff_ids_in_use())
        mounts.collect_cache()
        outcome.actions.append("removed %s (%d blobs, %d layers, %d bytes freed)"
                               % (ref_name, freed["blobs"], layers["layers"], freed["bytes"] + layers["bytes"]))
        return outcome

    # -- push -----------------------------------------------------------------------
    def push(self, name: str, target: Optional[str] = None, image: Optional[ResolvedImage] = None) -> Outcome:
        """Make the registry's ``target`` (default: ``name``) match the local image ``name``.

        ``image`` is what ``present`` resolved; in check mode it stands for the image that
        would be in the store."""
        ref_name = str(self.local_name(name))
        local = image or self.local_image(ref_name)
        if local is None:
            raise StoreError("cannot push %s: it is not in the store %s" % (ref_name, self.storage_root))
        remote_ref = self.registry.push_reference(parse_reference(target) if target else parse_reference(ref_name))
        client = self.registry.client(remote_ref, push=not self.check_mode)
        remote_target = remote_ref.tag or local.manifest.digest
        current = client.head_manifest(remote_target)
        outcome = Outcome(before={"remote_digest": current["digest"] if current else None},
                          after={"remote_digest": local.manifest.digest})
        if current is not None and current["digest"] == local.manifest.digest:
            return outcome
        outcome.changed = True
        if self.check_mode:
            outcome.actions.append("would push %s to %s" % (ref_name, remote_ref))
            return outcome
        source = StoreImageSource(self.store(), ref_name)
        from .remote import RegistryImageDestination  # with requests: only when a registry is used
        destination = RegistryImageDestination(client, remote_ref)
        result = copy_image(source, destination, image=local)
        outcome.actions.append("pushed %s to %s (%s, %d blobs uploaded, %d mounted)"
                               % (ref_name, remote_ref, local.manifest.digest,
                                  len(result.blobs_copied) - len(destination.mounted), len(destination.mounted)))
        return outcome

    # -- export ---------------------------------------------------------------------
    def export(self, name: str, target: str, image: Optional[ResolvedImage] = None) -> Outcome:
        from .transports import open_destination, open_source, parse_transport
        ref_name = str(self.local_name(name))
        local = image or self.local_image(ref_name)
        if local is None:
            raise StoreError("cannot export %s: it is not in the store %s" % (ref_name, self.storage_root))
        kind, dummy, reference = parse_transport(target)
        if kind == "docker":
            return self.push(name, target=reference, image=image)
        # A docker-archive has no registry manifest of its own: its image is known by
        # its config digest (the image ID). The other formats keep the manifest.
        key = "export_id" if kind == "docker-archive" else "export_digest"
        wanted = local.manifest.config["digest"] if kind == "docker-archive" else local.manifest.digest
        current = None
        try:
            existing = open_source(target)
            try:
                found = existing.get_manifest()
                current = found.config["digest"] if kind == "docker-archive" else found.digest
            finally:
                existing.close()
        except UndockError:
            current = None
        outcome = Outcome(before={key: current}, after={key: wanted})
        if current == wanted:
            return outcome
        outcome.changed = True
        if self.check_mode:
            outcome.actions.append("would export %s to %s" % (ref_name, target))
            return outcome
        destination = open_destination(target)
        try:
            copy_image(StoreImageSource(self.store(), ref_name), destination, image=local)
        finally:
            destination.close()
        outcome.actions.append("exported %s to %s" % (ref_name, target))
        return outcome

    # -- information ----------------------------------------------------------------
    def list_local(self, names: Optional[List[str]] = None) -> List[Dict[str, Any]]:
        store = self.store(create=False)
        if store is None:
            return []
        if names:
            wanted = [str(self.local_name(n)) for n in names]
        else:
            wanted = [e["annotations"][REF_NAME] for e in store.images()]
        result = []
        for ref_name in wanted:
            image = self.local_image(ref_name)
            if image is not None:
                info = describe_image(ref_name, image)
                problems = store.check([ref_name])
                info["consistent"] = not problems
                info["problems"] = problems
                result.append(info)
        return result

    def inspect_remote(self, name: str, platform: Optional[str] = None) -> Dict[str, Any]:
        """Manifest and config from the registry, no layers: ``skopeo inspect``."""
        ref = parse_reference(name)
        from .remote import open_pull_source
        source = open_pull_source(self.registry, ref)
        image = resolve_image(source, platform)
        info = describe_image(str(source.describe()), image)
        try:
            info["repo_tags"] = sorted(source.client.list_tags())
        except RegistryError:
            info["repo_tags"] = []
        return info


def json_dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
