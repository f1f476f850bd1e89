# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The two sides of every image copy, as containers/image splits them.

A source hands out one reference's manifest and blobs; a destination takes blobs, then
manifests, then names the image. ``copy.copy_image`` is the only thing that moves data
between them, so pull, push, load and export are the same code.
"""

from __future__ import annotations

from ..common.errors import UndockError
from ..model.digest import Digester
from ..model.manifest import Manifest
from ..model.pending import PendingChecks

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Dict, List, Optional
    from ..storage.layout import BlobOpener, Received
    from ..signing.location import ImageLocation
    from ..signing.sigstore import Signature


class ImageSource:
    """What one reference names somewhere: a registry, the store, a layout, an archive."""

    #: registry reference the content came from, for cross-repository mounts (or None)
    origin: Any = None
    #: True only for the store, whose manifests and configs were checked against their
    #: schemas when they entered it; every other source's documents are checked when read
    trusted: bool = False

    def describe(self) -> str:
        raise NotImplementedError

    def get_manifest(self, digest: Optional[str] = None, checks: Optional[PendingChecks] = None) -> Manifest:
        """The manifest the reference names (``digest`` None), or a child of an index by digest.

        A source whose documents come from outside checks it against its schema now, or,
        given ``checks``, adds that check to them for the caller to run (copy_image does,
        once its blobs are in); a source whose manifests need no check ignores ``checks``."""
        raise NotImplementedError

    def blob_opener(self, desc: Dict[str, Any]) -> BlobOpener:
        """A function that opens the blob at a byte offset; see storage.layout.BlobOpener."""
        raise NotImplementedError

    def open_file(self, desc: Dict[str, Any]) -> BinaryIO:
        """The whole blob as a seekable local file where the source has one (store, layout)."""
        raise NotImplementedError("%s cannot give %s as a local file" % (self.describe(), desc["digest"]))

    def read_blob(self, desc: Dict[str, Any], limit: int = 64 * 1024 * 1024) -> bytes:
        """A small blob (a config) read whole and verified against its descriptor."""
        stream, dummy = self.blob_opener(desc)(0)
        try:
            data = stream.read(limit + 1)
        finally:
            stream.close()
        digester = Digester(desc["digest"])
        digester.update(data)
        digester.verify("blob %s from %s" % (desc["digest"], self.describe()), desc.get("size"))
        return data

    def policy_location(self) -> Optional["ImageLocation"]:
        """Where the trust policy's scopes see this image: a registry name or a file of a
        transport; None for the store, whose images were judged when they entered it."""
        return None

    def get_signatures(self, manifest_digest: str) -> List["Signature"]:
        """The untrusted sigstore signatures of ``manifest_digest`` (containers/image's GetSignatures)."""
        return []

    def close(self) -> None:
        pass


class ImageDestination:
    """Where a copy writes: blobs first, then manifests, then ``commit`` names the image."""

    def describe(self) -> str:
        raise NotImplementedError

    def prepare(self, manifest: Manifest, config: Dict[str, Any]) -> None:
        """Told the image before any blob arrives (the store maps layers to diff IDs)."""

    def has_blob(self, desc: Dict[str, Any]) -> bool:
        raise NotImplementedError

    def put_blob(self, desc: Dict[str, Any], source: ImageSource, received: Received = None) -> bool:
        """Copy one blob from ``source``, verified. True if bytes moved, False if it was there.

        ``received``, if the destination calls it, is called once the bytes are all in and
        verified but before they are made durable (storage.layout.Received); copy_image takes
        a return without that call as the same moment."""
        raise NotImplementedError

    def put_manifest(self, manifest: Manifest) -> None:
        raise NotImplementedError

    def get_signatures(self, manifest_digest: str) -> List["Signature"]:
        """The signatures already stored for ``manifest_digest`` here."""
        return []

    def put_signatures(self, manifest_digest: str, signatures: List["Signature"]) -> None:
        """Add ``signatures`` to those of ``manifest_digest`` (containers/image's PutSignatures)."""
        raise UndockError("%s cannot store signatures" % self.describe())

    def commit(self, manifest: Manifest, annotations: Optional[Dict[str, str]] = None,
               platform: Optional[Dict[str, str]] = None) -> bool:
        """Name the image. True if the destination changed."""
        raise NotImplementedError

    def close(self) -> None:
        pass
