# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Images in a registry repository, as a copy source and destination."""

from __future__ import annotations

from ..common.errors import NotFoundError, RegistryError, TransientError, UndockError
from ..registry.config import FILES_ONLY, TASK_REGISTRY
from ..registry.context import RegistryContext
from ..model.digest import validate_digest
from ..model.manifest import Manifest
from ..model.pending import PendingChecks
from ..model.reference import Reference
from .interfaces import ImageDestination, ImageSource

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional
    from ..registry.client import RegistryClient  # and requests: loaded by RegistryContext.client()
    from ..signing.location import ImageLocation
    from ..signing.sigstore import Signature
    from ..storage.layout import BlobOpener, Received

# signing/ (and cryptography) is loaded only when signatures are read or written:
# a pull under a policy that asks for none does not pay for it.


class RegistryImageSource(ImageSource):
    def __init__(self, client: "RegistryClient", reference: Reference, requested: Optional[Reference] = None):
        self.client = client
        self.reference = reference
        self.origin = reference
        # The name the user asked for (before short-name and mirror resolution): the store keeps it.
        self.requested = requested or reference
        self._top: Optional[Manifest] = None
        self._top_checks = PendingChecks()  # its schema check, until a caller ran it

    def describe(self) -> str:
        return str(self.reference)

    def get_manifest(self, digest: Optional[str] = None, checks: Optional[PendingChecks] = None) -> Manifest:
        if digest is not None:  # read from an index that may not be checked yet: it goes into a URL
            return self.client.get_manifest(validate_digest(digest), checks)
        if self._top is None:
            self._top = self.client.get_manifest(self.reference.manifest_reference, self._top_checks)
        if checks is None:
            self._top_checks.run()
        else:
            checks.add(self._top_checks.run)
        return self._top

    def blob_opener(self, desc: Dict[str, Any]) -> BlobOpener:
        return self.client.blob_opener(desc)

    def policy_location(self) -> Optional["ImageLocation"]:
        from ..signing.location import DOCKER, ImageLocation  # only when a trust policy applies
        return ImageLocation(DOCKER, reference=self.requested)

    def get_signatures(self, manifest_digest: str) -> List["Signature"]:
        from ..signing import attachments
        return attachments.read_signatures(self.client, manifest_digest)

    def head(self) -> Optional[Dict[str, Any]]:
        """The descriptor the reference currently resolves to, without fetching the body."""
        return self.client.head_manifest(self.reference.manifest_reference)


class RegistryImageDestination(ImageDestination):
    """Pushes blobs (mounting from the source's repository when on the same registry), then the manifest."""

    def __init__(self, client: "RegistryClient", reference: Reference, chunk_size: Optional[int] = None):
        self.client = client
        self.reference = reference
        self.chunk_size = chunk_size
        self.mounted = []  # type: list

    def describe(self) -> str:
        return str(self.reference)

    def has_blob(self, desc: Dict[str, Any]) -> bool:
        return self.client.blob_size(desc["digest"]) is not None

    def put_blob(self, desc: Dict[str, Any], source: ImageSource, received: Received = None) -> bool:
        """The registry verifies the digest as it commits an upload; nothing to call ``received``
        before: copy_image takes the return as the moment the bytes are in."""
        origin = source.origin
        if origin is not None and origin.registry == self.reference.registry \
                and origin.repository != self.reference.repository:
            if self.client.mount_blob(desc["digest"], origin.repository):
                self.mounted.append(desc["digest"])
                return True
        self.client.upload_blob(desc, lambda: source.open_file(desc), chunk_size=self.chunk_size)
        return True

    def get_signatures(self, manifest_digest: str) -> List["Signature"]:
        from ..signing import attachments
        return attachments.read_signatures(self.client, manifest_digest)

    def put_signatures(self, manifest_digest: str, signatures: List["Signature"]) -> None:
        from ..signing import attachments
        from ..signing.sigstore import same_signature
        existing = self.get_signatures(manifest_digest)
        new = [sig for sig in signatures if not any(same_signature(sig, old) for old in existing)]
        if new:
            attachments.write_signatures(self.client, manifest_digest, existing + new)

    def put_manifest(self, manifest: Manifest) -> None:
        pass  # the manifest goes up in commit: it names the image at the same time

    def commit(self, manifest: Manifest, annotations: Optional[Dict[str, str]] = None,
               platform: Optional[Dict[str, str]] = None) -> bool:
        target = self.reference.tag or manifest.digest
        current = self.client.head_manifest(target)
        if current is not None and current["digest"] == manifest.digest:
            return False
        self.client.put_manifest(target, manifest)
        return True


def open_pull_source(context: RegistryContext, ref: Reference, role: str = TASK_REGISTRY) -> RegistryImageSource:
    """A registry source for ``ref`` whose manifest answered: short-name candidates in
    order, each through its mirrors then its location. Errors name every place tried.

    The registry of each candidate gets the credentials of ``role`` (the task's for its
    ``name``, the source's for a ``source:``); a mirror gets only what the auth files hold."""
    tried: List[str] = []
    last_error: Optional[UndockError] = None
    for candidate in context.short_name_candidates(ref):
        for location in context.registries.pull_sources(candidate):
            client = context.client(location.reference, insecure=location.insecure,
                                    role=FILES_ONLY if location.mirror else role)
            source = RegistryImageSource(client, location.reference, requested=candidate)
            try:
                source.get_manifest(checks=PendingChecks())  # the caller checks it when it reads it
                return source
            except (NotFoundError, TransientError) as err:
                tried.append(str(location.reference))
                last_error = err
                continue
            except RegistryError as err:
                if location.mirror:
                    tried.append(str(location.reference))
                    last_error = err
                    continue
                raise
    if isinstance(last_error, NotFoundError):
        raise NotFoundError("image %s not found (tried %s): %s" % (ref, ", ".join(tried), last_error),
                            status=404)
    if last_error is not None:
        raise last_error
    raise RegistryError("no registry to pull %s from" % (ref,))
