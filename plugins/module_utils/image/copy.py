# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copy one image from a source to a destination: select the platform, move missing blobs
(several at once), then manifest, then name. Manifest bytes are copied unchanged, so the
destination has the same digest as the source.

The schema checks of the documents read from outside (index, manifest, config) run once
every blob is in and verified, while the destination makes them durable (the fsync of a
download leaves the CPU idle), not before the first download: they cost about as much as
that flush (importing jsonschema, mostly). Nothing is named before they passed, and any
other error raised before them is reported only after them (model.pending)."""

from __future__ import annotations

import io

from ..model.pending import PendingChecks
from .interfaces import ImageDestination, ImageSource
from .resolve import ResolvedImage, resolve_image

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Dict, List, Optional
    from ..signing.policy import Policy
    from ..storage.layout import BlobOpener

# As containers/image (skopeo, podman): a typical image's layers all download at once,
# and none waits alone at the end for a slot.
DEFAULT_PARALLEL = 6


class CopyResult:
    __slots__ = ("image", "blobs_copied", "bytes_copied", "changed")

    def __init__(self, image: ResolvedImage, blobs_copied: Optional[List[str]] = None, bytes_copied: int = 0,
                 changed: bool = False) -> None:
        self.image = image
        self.blobs_copied = [] if blobs_copied is None else blobs_copied
        self.bytes_copied = bytes_copied
        self.changed = changed


class KnownConfigSource(ImageSource):
    """``source``, but its config blob served from the bytes ``resolve_image`` already read
    and verified, so that a copy does not fetch it a second time (containers/image too copies
    the config from memory). The destination checks the digest again as it takes the bytes in."""

    def __init__(self, source: ImageSource, config: Dict[str, Any], raw: bytes):
        self.source = source
        self.config = config
        self.raw = raw
        self.origin = source.origin
        self.trusted = source.trusted

    def describe(self) -> str:
        return self.source.describe()

    def blob_opener(self, desc: Dict[str, Any]) -> "BlobOpener":
        if desc["digest"] != self.config["digest"]:
            return self.source.blob_opener(desc)
        return lambda offset: (io.BytesIO(self.raw[offset:]), offset)

    def open_file(self, desc: Dict[str, Any]) -> BinaryIO:
        if desc["digest"] != self.config["digest"]:
            return self.source.open_file(desc)
        return io.BytesIO(self.raw)


def check_policy(source: ImageSource, image: ResolvedImage, policy: Optional[Policy]) -> None:
    """Raise PolicyRejectedError unless ``policy`` allows what ``source`` resolved to, whether a
    registry or a file. Only the manifest the reference named and its signatures are read: no
    layer (IsRunningImageAllowed)."""
    if policy is None:
        return
    location = source.policy_location()
    if location is None:
        return
    from ..signing.policy import UnverifiedImage, check_image  # cryptography only when a policy applies
    top = source.get_manifest(checks=PendingChecks())  # its bytes and digest: its schema is resolve_image's
    check_image(policy, UnverifiedImage(location.reference, top.raw, lambda: source.get_signatures(top.digest),
                                        location=location))


def sign_image(destination: ImageDestination, key: Any, identity: str, manifest_digest: str,
               check_mode: bool = False) -> bool:
    """Sign ``manifest_digest`` as ``identity`` at ``destination`` unless ``key`` already did
    (signatures accumulate; signing again is a no-op). True if a signature was (or would be) added."""
    from ..signing.sigstore import sign, signed_by
    if signed_by(destination.get_signatures(manifest_digest), key, identity, manifest_digest) is not None:
        return False
    if not check_mode:
        destination.put_signatures(manifest_digest, [sign(key, identity, manifest_digest)])
    return True


def copy_image(source: ImageSource, destination: ImageDestination, image: Optional[ResolvedImage] = None,
               platform: Optional[Any] = None, annotations: Optional[Dict[str, str]] = None,
               parallel: int = DEFAULT_PARALLEL, policy: Optional["Policy"] = None) -> CopyResult:
    """Copy the image ``source`` names into ``destination``. Idempotent: present blobs are skipped.
    With ``policy``, the image must satisfy it before any blob moves. The schema checks
    ``image.checks`` holds (``resolve_image`` with ``checked=False``) run before anything is named."""
    image = image or resolve_image(source, platform, checked=False)
    checks = image.checks
    result = CopyResult(image=image)
    with checks.first():
        check_policy(source, image, policy)
        destination.prepare(image.manifest, image.config)
        missing = [desc for desc in image.manifest.layers + [image.manifest.config]
                   if not destination.has_blob(desc)]
        if not all(_bounded(desc) for desc in missing):
            checks.run()  # a download is bounded by its size: the schema says what is wrong with it
        # Largest first so the long downloads start at once.
        missing.sort(key=lambda d: -int(d.get("size") or 0))
        seen = set()
        unique = [d for d in missing if not (d["digest"] in seen or seen.add(d["digest"]))]
        moved = _transfer(destination, KnownConfigSource(source, image.manifest.config, image.config_raw),
                          unique, parallel, checks) if unique else []
        checks.run()
        for desc, did_move in zip(unique, moved):
            if did_move:
                result.blobs_copied.append(desc["digest"])
                result.bytes_copied += int(desc.get("size") or 0)
    destination.put_manifest(image.manifest)
    committed = destination.commit(image.manifest, annotations=annotations, platform=image.platform)
    result.changed = committed or bool(result.blobs_copied)
    return result


def _bounded(desc: Dict[str, Any]) -> bool:
    """Whether a blob's descriptor gives a size its download can be held to."""
    size = desc.get("size")
    return isinstance(size, int) and not isinstance(size, bool) and size >= 0


def _transfer(destination: ImageDestination, source: ImageSource, descs: List[Dict[str, Any]], parallel: int,
              checks: PendingChecks) -> List[bool]:
    """``destination.put_blob`` of each of ``descs``, ``parallel`` at once; ``checks`` run in
    this thread once every transfer has its bytes verified (or one failed), while the
    transfers make them durable. What put_blob returned, in order."""
    import threading  # with the pool: a no-op run copies nothing
    from concurrent.futures import ThreadPoolExecutor
    waiting, failed = len(descs), False  # transfers without their bytes yet; whether one failed
    changed = threading.Condition()

    def arrived(failure: bool = False) -> None:
        nonlocal waiting, failed
        with changed:
            waiting -= 1
            failed = failed or failure
            changed.notify()

    def put(desc: Dict[str, Any]) -> bool:
        told = False

        def tell(failure: bool = False) -> None:
            nonlocal told
            if not told:
                told = True
                arrived(failure)
        try:
            did_move = destination.put_blob(desc, source, received=tell)
        except BaseException:
            tell(failure=True)
            raise
        tell()  # a destination that does not call it, or a blob that was already there
        return did_move

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(descs)))) as pool:
        futures = [pool.submit(put, desc) for desc in descs]
        with changed:
            # Bounded: each transfer arrives once, when it has its bytes or when it fails,
            # and every transfer is itself bounded (registry deadlines, sizes).
            changed.wait_for(lambda: waiting <= 0 or failed)
        checks.run()  # a schema error is reported before a transfer's (the pool still waits for them)
        return [future.result() for future in futures]
