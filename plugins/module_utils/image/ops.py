# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the image modules ask for, in engine terms: make an image present or absent, push,
export, inspect. Each call returns an ``Outcome`` with ``changed``, a before/after for
``--diff`` and the actions taken. In check mode nothing is written anywhere, the registry
and the store included; only read-only requests are made."""

from __future__ import annotations

from ..common.errors import (DigestMismatchError, ImageInUseError, NotFoundError, PolicyRejectedError, RegistryError,
                             StoreError, TransientError, UndockError)
from ..registry.config import SOURCE_REGISTRY, TASK_REGISTRY
from ..registry.context import RegistryContext
from ..model.digest import parse_digest
from ..model.platform import Platform, normalize_platform
from ..model.reference import Reference, parse_reference
from ..model.transport_names import DOCKER, DOCKER_ARCHIVE, FILE_TRANSPORTS
from ..storage.layers import LayerStore
from ..storage.limits import DEFAULT_MAX_SIZE as DEFAULT_MAX_LAYER_SIZE
from ..storage.layout import REF_NAME
from ..storage.peek import SOURCE_DIGEST, SOURCE_REF, original_manifest
from ..storage.store import DEFAULT_ROOT, DEFAULT_RUN_ROOT, Store, open_store
from .copy import check_policy, copy_image, sign_image
from .instore import kept, named_entry, packed_layers, stored_image, stored_name
from .interfaces import ImageSource
from .local import StoreImageDestination, StoreImageSource
from .outcome import Outcome
from .record import describe_image
from .resolve import ResolvedImage, resolve_image

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

PULL_POLICIES = ("missing", "newer", "always", "never")


def load_signing_key(path: str, passphrase: Optional[str]) -> Any:
    """The private key of ``sign_by``: cosign's encrypted PEM or plain PKCS#8, read at most 64 KiB."""
    from ..signing.keys import load_private_key
    try:
        with open(path, "rb") as handle:
            data = handle.read(64 * 1024)
    except OSError as err:
        raise UndockError("cannot read the signing key %s: %s" % (path, err.strerror or err))
    return load_private_key(data, passphrase, where=path)


def check_entry(entry: Dict[str, Any]) -> None:
    """Raise StoreError for an index.json entry that is not a descriptor of a manifest."""
    for key in ("digest", "mediaType"):
        if not isinstance(entry.get(key), str):
            raise StoreError("index.json entry has no %s" % key)
    parse_digest(entry["digest"])
    if not isinstance(entry.get("size"), int):
        raise StoreError("index.json entry %s has no size" % entry["digest"])


def check_transport(text: str) -> str:
    """The transport of ``text``; InvalidReferenceError for a malformed ``oci:``,
    ``oci-archive:``, ``docker-archive:`` or registry name, before anything is read or sent."""
    from .transports import parse_transport
    kind, dummy, reference = parse_transport(text)
    if kind == DOCKER:
        parse_reference(reference)
    return kind


class ImageService:
    def __init__(self, storage_root: str = DEFAULT_ROOT, registry: Optional[RegistryContext] = None,
                 check_mode: bool = False, max_layer_size: int = DEFAULT_MAX_LAYER_SIZE,
                 run_root: str = DEFAULT_RUN_ROOT, policy: Any = None):
        self.storage_root = storage_root
        # the trust policy every pull must satisfy: a signing.policy.Policy, a function that
        # loads one (so a task that pulls nothing never reads policy.json), or None for none
        self._policy = policy
        self.run_root = run_root
        self.max_layer_size = max_layer_size
        self.registry = registry or RegistryContext()
        self.check_mode = check_mode
        self._store: Optional[Store] = None

    def policy(self) -> Any:
        if callable(self._policy):
            self._policy = self._policy()
        return self._policy

    # -- store ----------------------------------------------------------------------
    def store(self, create: bool = True) -> Optional[Store]:
        """The store; in check mode (or with create=False) None when it does not exist yet."""
        if self._store is None:
            self._store = open_store(self.storage_root, self.run_root, create=create, check_mode=self.check_mode)
            if self._store is None:
                return None
            if not self.check_mode:
                LayerStore(self._store).clean_temporaries()
        return self._store

    def local_name(self, name: str, platform: Optional[Platform] = None) -> Reference:
        """The store name for ``name`` (see instore.stored_name)."""
        ref = parse_reference(name)
        candidates = self.registry.short_name_candidates(ref)
        store = self.store(create=False)
        return stored_name(store.images() if store is not None else [], ref, candidates, platform)

    def local_image(self, ref_name: str) -> Optional[ResolvedImage]:
        store = self.store(create=False)
        entry = store.lookup(ref_name) if store is not None else None
        return stored_image(store.root, ref_name, entry) if entry is not None else None

    # -- present --------------------------------------------------------------------
    def present(self, name: str, pull: str = "missing", platform: Optional[str] = None,
                source: Optional[str] = None, image_source: Optional[ImageSource] = None) -> Outcome:
        """Make ``name`` present in the store: kept, pulled, or loaded from ``source`` (a
        transport string) or ``image_source`` (an image made by this process: a build), always
        through copy_image and the trust policy."""
        if image_source is not None:
            pull = "always"
        if pull not in PULL_POLICIES:
            raise UndockError("pull must be one of %s, not %r" % (", ".join(PULL_POLICIES), pull))
        # Everything that can be checked is checked before the first request.
        wanted = normalize_platform(platform) if platform else None
        if source and check_transport(source) in FILE_TRANSPORTS and pull != "never":
            pull = "always"  # a local file is cheap to compare, and may have changed
        requested = parse_reference(name)
        candidates = self.registry.short_name_candidates(requested)
        store = self.store(create=False)
        entries = store.images() if store is not None else []
        # what the store holds for the name: found as present_in_store (instore.py) finds it
        ref = stored_name(entries, requested, candidates, wanted)
        ref_name = str(ref)
        entry = named_entry(entries, ref_name)
        outcome = Outcome(before={"digest": original_manifest(entry)["digest"] if entry else None})
        corrupt = self._drop_corrupt_blobs(ref_name, outcome) if entry is not None and pull == "always" else []
        local = stored_image(store.root, ref_name, entry) if entry is not None and not corrupt else None
        if local is not None and (pull in ("missing", "never") or (requested.digest and not source)):
            outcome = kept(ref_name, entry, local)
            self._ensure_unpacked(ref_name, local, outcome)
            return outcome
        if pull == "never":
            raise StoreError("image %s is not in the store %s and pull is never" % (ref_name, self.storage_root))

        try:
            # a digest names the same image anywhere; a stored tag is refreshed where it was found
            if image_source is not None:
                src = image_source
            else:
                src = self._open_source(source, ref if entry is not None and not requested.digest else requested)
            if not source and image_source is None and entry is None:  # a short name is stored where it was found
                ref_name = str(src.requested)  # type: ignore[attr-defined]
            # the copy checks the documents' schemas while it flushes the blobs (copy_image)
            remote = resolve_image(src, wanted, checked=False)
        except (TransientError, NotFoundError, RegistryError) as err:
            if local is not None and pull == "newer":
                outcome.warnings.append("could not check %s for a newer image, keeping the local one: %s"
                                        % (ref_name, err))
                outcome.after = {"digest": local.manifest.digest}
                outcome.image = describe_image(ref_name, local)
                outcome.resolved = local
                return outcome
            raise
        with remote.checks.first():  # a document that breaks its schema is reported as such
            outcome.after = {"digest": remote.manifest.digest}
            outcome.image = describe_image(ref_name, remote)
            outcome.resolved = remote
            if local is not None and local.manifest.digest == remote.manifest.digest:
                try:
                    remote.checks.run()
                    check_policy(src, remote, self.policy())  # what was looked up again is judged again
                except PolicyRejectedError as err:
                    raise self._drop_rejected(ref_name, err)
                finally:
                    src.close()
                self._ensure_unpacked(ref_name, local, outcome)
                return outcome
            outcome.changed = True
            verb = "pull" if isinstance(src.origin, Reference) else "load"
            verb = "would " + verb if self.check_mode else verb + "ed"
            if self.check_mode:
                try:
                    remote.checks.run()
                    check_policy(src, remote, self.policy())
                finally:
                    src.close()
                outcome.actions.append("%s %s from %s (%s)" % (verb, ref_name, src.describe(), remote.manifest.digest))
                return outcome
            store = self.store()
            annotations = {SOURCE_DIGEST: remote.top_digest}
            if isinstance(src.origin, Reference):
                annotations[SOURCE_REF] = str(src.origin.with_tag(None).with_digest(None))
            destination = StoreImageDestination(store, ref_name, max_layer_size=self.max_layer_size)
            try:
                result = copy_image(src, destination, image=remote, annotations=annotations, policy=self.policy())
            finally:
                destination.close()
                src.close()
            outcome.actions.append("%s %s from %s (%s, %d blobs, %d bytes)"
                                   % (verb, ref_name, src.describe(), remote.manifest.digest,
                                      len(result.blobs_copied), result.bytes_copied))
            if entry is not None and outcome.before["digest"] != remote.manifest.digest:
                store.collect_garbage()
            return outcome

    def _drop_rejected(self, ref_name: str, err: PolicyRejectedError) -> PolicyRejectedError:
        """The store must not go on serving an image the policy now rejects (containers/image
        refuses to use one): remove it, unless a mount uses it, and say which in the error."""
        if self.check_mode:
            return PolicyRejectedError("%s; %s would be removed from the store %s" % (err, ref_name, self.storage_root))
        try:
            removed = self.absent(ref_name)
        except ImageInUseError as busy:
            return PolicyRejectedError("%s; it stays in the store %s: %s" % (err, self.storage_root, busy))
        return PolicyRejectedError("%s; %s was removed from the store %s (%s)"
                                   % (err, ref_name, self.storage_root, "; ".join(removed.actions)))

    def _drop_corrupt_blobs(self, ref_name: str, outcome: Outcome) -> List[str]:
        """Verify every stored blob of ``ref_name``; remove those that fail their digest (in
        check mode, only report them), so that the pull that follows fetches them again."""
        store = self.store(create=False)
        corrupt = []
        for digest in sorted(store.referenced_blobs([store.lookup(ref_name)])):
            if not store.has_blob(digest):
                continue
            try:
                store.verify_blob({"digest": digest})
            except DigestMismatchError as err:
                corrupt.append(digest)
                if self.check_mode:
                    outcome.warnings.append("%s: %s; it would be fetched again" % (ref_name, err))
                    continue
                with store.blob_lock(digest):
                    store.layout.remove_blob(digest)
                outcome.warnings.append("%s: %s; removed, fetched again" % (ref_name, err))
        if corrupt:
            outcome.actions.append("%s %d corrupt blobs of %s"
                                   % ("would fetch again" if self.check_mode else "removed, to fetch again",
                                      len(corrupt), ref_name))
        return corrupt

    def _ensure_unpacked(self, ref_name: str, image: ResolvedImage, outcome: Outcome) -> None:
        """Unpack from the stored blobs any layer of a present image that is not unpacked
        (a store written before layers were kept, or a layer removed by hand)."""
        store = self.store(create=False)
        missing = packed_layers(store.root, image)
        if not missing:
            return
        outcome.changed = True
        if self.check_mode:
            outcome.actions.append("would unpack %d layers of %s" % (len(missing), ref_name))
            return
        layers = LayerStore(store, self.max_layer_size)
        source = StoreImageSource(store, ref_name)
        with store.writing():
            for desc, diff_id in missing:
                layers.pull(desc, diff_id, source.blob_opener(desc))
        outcome.actions.append("unpacked %d layers of %s" % (len(missing), ref_name))

    def _open_source(self, source: Optional[str], ref: Reference) -> ImageSource:
        if not source:
            return self._registry_source(ref)
        from .transports import open_source
        return open_source(source, docker=lambda text: self._registry_source(parse_reference(text), SOURCE_REGISTRY))

    def _registry_source(self, ref: Reference, role: str = TASK_REGISTRY) -> ImageSource:
        from .remote import open_pull_source  # with requests: only when a registry is used
        return open_pull_source(self.registry, ref, role=role)

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
    def push(self, name: str, target: Optional[str] = None, image: Optional[ResolvedImage] = None,
             sign_by: Optional[str] = None, sign_passphrase: Optional[str] = None) -> Outcome:
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
        from .remote import RegistryImageDestination  # with requests: only when a registry is used
        destination = RegistryImageDestination(client, remote_ref)
        key = load_signing_key(sign_by, sign_passphrase) if sign_by else None
        if current is None or current["digest"] != local.manifest.digest:
            outcome.changed = True
            if self.check_mode:
                outcome.actions.append("would push %s to %s" % (ref_name, remote_ref))
            else:
                result = copy_image(StoreImageSource(self.store(), ref_name), destination, image=local)
                outcome.actions.append("pushed %s to %s (%s, %d blobs uploaded, %d mounted)"
                                       % (ref_name, remote_ref, local.manifest.digest,
                                          len(result.blobs_copied) - len(destination.mounted),
                                          len(destination.mounted)))
        if key is not None:
            # signed as pushed, by tag (containers/image's identity), and only once per key
            identity = str(remote_ref.with_digest(None)) if remote_ref.tag else remote_ref.name
            if sign_image(destination, key, identity, local.manifest.digest, check_mode=self.check_mode):
                outcome.changed = True
                outcome.actions.append("%s %s as %s with %s" % ("would sign" if self.check_mode else "signed",
                                                                local.manifest.digest, identity, sign_by))
        return outcome

    # -- export ---------------------------------------------------------------------
    def export(self, name: str, target: str, image: Optional[ResolvedImage] = None) -> Outcome:
        from .transports import open_destination, open_source, parse_transport
        ref_name = str(self.local_name(name))
        local = image or self.local_image(ref_name)
        if local is None:
            raise StoreError("cannot export %s: it is not in the store %s" % (ref_name, self.storage_root))
        kind, dummy, reference = parse_transport(target)
        if kind == DOCKER:
            return self.push(name, target=reference, image=image)
        # A docker-archive has no registry manifest of its own: its image is known by
        # its config digest (the image ID). The other formats keep the manifest.
        key = "export_id" if kind == DOCKER_ARCHIVE else "export_digest"
        wanted = local.manifest.config["digest"] if kind == DOCKER_ARCHIVE else local.manifest.digest
        current = None
        try:
            existing = open_source(target)
            try:
                found = existing.get_manifest()
                current = found.config["digest"] if kind == DOCKER_ARCHIVE else found.digest
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
    def list_local(self, names: Optional[List[str]] = None) -> Outcome:
        """Every image in the store (or those of ``names``), each checked. An entry that
        cannot be read is listed with its problems, not a failure of the whole listing;
        names that are not in the store are in ``values["missing"]``."""
        outcome = Outcome(values={"images": [], "missing": []})
        store = self.store(create=False)
        if names:
            wanted = [str(self.local_name(n)) for n in names]
        else:
            wanted = [e["annotations"][REF_NAME] for e in store.images()] if store is not None else []
        for ref_name in wanted:
            if store is None or store.lookup(ref_name) is None:
                outcome.values["missing"].append(ref_name)
                continue
            try:
                check_entry(store.lookup(ref_name))
                info = describe_image(ref_name, self.local_image(ref_name))
                problems = store.check([ref_name])
            except UndockError as err:
                info, problems = describe_image(ref_name, None), ["%s: %s" % (ref_name, err)]
                outcome.warnings.append("%s in %s cannot be read: %s" % (ref_name, store.describe(), err))
            info["consistent"] = not problems
            info["problems"] = problems
            outcome.values["images"].append(info)
        return outcome

    def inspect_remote(self, names: List[str], platform: Optional[str] = None) -> Outcome:
        """Manifest and config from the registry, no layers: ``skopeo inspect``. Names the
        registry does not have are in ``values["missing"]``, as for ``list_local``."""
        wanted = normalize_platform(platform) if platform else None
        refs = [parse_reference(name) for name in names]
        from .remote import open_pull_source
        outcome = Outcome(values={"images": [], "missing": []})
        for ref in refs:
            try:
                source = open_pull_source(self.registry, ref)
                image = resolve_image(source, wanted)
            except NotFoundError:
                outcome.values["missing"].append(str(ref))
                continue
            info = describe_image(str(source.describe()), image)
            try:
                info["repo_tags"] = sorted(source.client.list_tags())
            except RegistryError:
                info["repo_tags"] = []
            outcome.values["images"].append(info)
        return outcome
