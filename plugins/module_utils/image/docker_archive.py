# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``docker-archive:FILE[:REF]`` transport (the ``docker save`` / ``docker load`` format).

The archive is read in place by ``tar_archive.TarArchive`` (never extracted) and
written by ``tar_writer.write_tar`` (deterministic, replaced only when it changes).

docker-archive as a source
    ``manifest.json`` lists images as ``{"Config", "RepoTags", "Layers"}``; layers are
    tars (``<id>/layer.tar`` from docker save, ``<diffid hex>.tar`` from skopeo,
    ``blobs/sha256/<hex>`` from docker >= 25), usually uncompressed. The archive has
    no registry manifest, so one is synthesised.

    Media type decision. skopeo 1.9.3 synthesises a Docker v2s2 manifest whose layers are
    the *uncompressed* tars labelled ``application/vnd.docker.image.rootfs.diff.tar.gzip``
    (checked with ``skopeo inspect --raw docker-archive:...``); its copy pipeline then
    sniffs, gzip-compresses, and for ``oci:`` converts the manifest *and re-serialises
    the config* (new config digest). Our ``copy_image`` copies manifest bytes unchanged,
    so a mislabelled manifest would be pushed and stored as is. We therefore synthesise
    a correctly labelled manifest, by default an **OCI manifest**: config bytes unchanged
    (media type ``application/vnd.oci.image.config.v1+json``, so the config digest, the
    image ID docker/podman load give it, is kept) and uncompressed layers
    ``application/vnd.oci.image.layer.v1.tar`` whose digests are the diff IDs. That is
    what umoci unpacks, every OCI registry (docker-registry 2.8 included) accepts, and
    skopeo reads. ``manifest_format="docker"`` gives skopeo's v2s2 shape instead, with
    the honest uncompressed type ``application/vnd.docker.image.rootfs.diff.tar``; note
    that once stored in an ``oci:`` layout, a Docker-typed index.json entry is invisible
    to skopeo 1.9.3 (``no descriptor found``, as with its own ``--preserve-digests``)
    and umoci refuses it. Layers are not compressed here (that would cost a full
    compression pass before the manifest exists); a registry push of such an image
    sends uncompressed layers.
    Layers stored compressed in the archive are decompressed on the fly (as skopeo does).

docker-archive as a destination
    Writes ``manifest.json`` with ``RepoTags`` fully qualified (``docker.io/library/busybox:latest``,
    as skopeo writes it, not docker save's familiar ``busybox:latest``: podman 4.3 loads a
    familiar name as ``localhost/busybox:latest``; docker normalises both forms alike),
    ``<config hex>.json`` and uncompressed ``<diffid hex>.tar`` layers (gzip/zstd layers
    are decompressed on the fly and checked against the config's ``rootfs.diff_ids``).
    No legacy ``<v1 id>/`` directories and no ``repositories`` file: docker, podman and
    skopeo load from ``manifest.json``, and the legacy directories would need symlinks.
    The file is replaced atomically (temp file + rename) and only when its bytes change:
    the tar is deterministic (fixed member order, mtime 0, uid/gid 0). Like docker save,
    the archive holds the one image that was copied; other images in an existing file
    are not kept (skopeo 1.9.3 refuses an existing non-empty file outright: "docker-archive
    doesn't support modifying existing images"; replacing it is what an idempotent
    Ansible task needs).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import threading

from ..model.digest import Digester, parse_digest, sha256_digest
from ..common.errors import InvalidReferenceError, LayerError, ManifestError, StoreError, UndockError
from ..common.jsonutil import load_json
from ..common.text import is_decimal
from ..model.imageconfig import parse_config
from ..model.manifest import (DOCKER_CONFIG, DOCKER_MANIFEST, OCI_CONFIG, OCI_LAYER, OCI_MANIFEST,
                              Manifest, parse_manifest)
from ..model.pending import PendingChecks
from ..model.reference import Reference, parse_reference
from ..signing.location import DOCKER_ARCHIVE, ImageLocation
from ..storage.compression import open_decompressed
from ..storage.layout import OCILayout
from .interfaces import ImageDestination, ImageSource
from .tar_archive import (CHUNK, MAX_JSON_MEMBER, ArchiveError, TarArchive, TarMember, big_temp_dir,
                          clean_member_name, sniff_compression)
from .tar_writer import TarWriter, json_compact, write_tar

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Dict, List, Optional, Tuple
    from ..storage.layout import BlobOpener, Received

DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
MANIFEST_JSON = "manifest.json"
MAX_CONFIG = 64 * 1024 * 1024


# ---------------------------------------------------------------------------------------
# docker-archive references
# ---------------------------------------------------------------------------------------
def parse_docker_archive_ref(ref: Optional[str], for_destination: bool = False) -> Tuple[Optional[Reference], Optional[int]]:
    """``(reference, index)`` from the REF of ``docker-archive:FILE:REF`` (either may be None).

    REF is a tagged name (no tag means ``latest``; a digest is refused, as containers/image
    does), or ``@N``, the N-th image of manifest.json (sources only).
    """
    if not ref:
        return None, None
    if ref.startswith("@"):
        if for_destination:
            raise InvalidReferenceError("docker-archive: @%s selects an image to read; a destination "
                                        "needs a name:tag" % ref[1:])
        if not is_decimal(ref[1:]):
            raise InvalidReferenceError("docker-archive: invalid image index %r (expected @N, N >= 0)" % ref)
        return None, int(ref[1:])
    parsed = parse_reference(ref)
    if parsed.digest:
        raise InvalidReferenceError("docker-archive: reference %r has a digest; docker archives name "
                                    "images by name:tag only" % ref)
    return parsed, None


# ---------------------------------------------------------------------------------------
# docker-archive source
# ---------------------------------------------------------------------------------------
class _ArchiveLayer:
    __slots__ = ("member", "compressed", "size")

    def __init__(self, member: TarMember, compressed: bool, size: int) -> None:
        self.member = member
        self.compressed = compressed
        self.size = size            # uncompressed


class DockerArchiveImageSource(ImageSource):
    """One image of a ``docker save`` archive, seen as an image with a synthesised manifest."""

    def __init__(self, path: str, ref: Optional[str] = None, manifest_format: str = "oci",
                 tmp_dir: Optional[str] = None):
        if manifest_format not in ("oci", "docker"):
            raise ValueError("manifest_format must be 'oci' or 'docker', not %r" % (manifest_format,))
        self.path = path
        self.ref = ref or ""
        self.manifest_format = manifest_format
        wanted, index = parse_docker_archive_ref(ref)
        self.archive = TarArchive(path, "docker-archive:%s" % path, tmp_dir=tmp_dir, allow_symlinks=True)
        try:
            self.items = read_docker_manifest_json(self.archive)
            self.item = self._select(wanted, index)
            self._build()
        except BaseException:
            self.archive.close()
            raise

    def describe(self) -> str:
        return "docker-archive:%s%s" % (self.path, ":" + self.ref if self.ref else "")

    def policy_location(self) -> Optional[ImageLocation]:
        return ImageLocation.of_file(DOCKER_ARCHIVE, self.path)

    def _select(self, wanted: Optional[Reference], index: Optional[int]) -> Dict[str, Any]:
        if index is not None:
            if index >= len(self.items):
                raise ArchiveError("%s: no image @%d, the archive holds %d" % (self.describe(), index, len(self.items)))
            return self.items[index]
        if wanted is not None:
            for item in self.items:
                for tag in item.get("RepoTags") or []:
                    try:
                        if str(parse_reference(tag)) == str(wanted):
                            return item
                    except InvalidReferenceError:
                        continue
            tags = sorted(t for item in self.items for t in (item.get("RepoTags") or []))
            raise ArchiveError("%s: no image named %s in the archive (it has: %s)"
                               % (self.describe(), wanted.familiar(), ", ".join(tags) or "no names"))
        if len(self.items) != 1:
            tags = sorted(t for item in self.items for t in (item.get("RepoTags") or []))
            raise ArchiveError("%s holds %d images; choose one with docker-archive:FILE:NAME:TAG or "
                               "docker-archive:FILE:@N (names: %s)"
                               % (self.describe(), len(self.items), ", ".join(tags) or "none"))
        return self.items[0]

    def _build(self) -> None:
        where = " (Config in manifest.json)"
        self.config_raw = self.archive.read(self.archive.file(self.item["Config"], where), MAX_CONFIG)
        self.config_digest = sha256_digest(self.config_raw)
        # docker save writes Docker's config format, whatever manifest is synthesised for it
        config = parse_config(self.config_raw, {"mediaType": DOCKER_CONFIG, "digest": self.config_digest},
                              self.describe())
        diff_ids = config["rootfs"]["diff_ids"]
        layer_paths = self.item["Layers"]
        if len(diff_ids) != len(layer_paths):
            raise ArchiveError("%s: manifest.json lists %d layers but the config has %d diff_ids"
                               % (self.describe(), len(layer_paths), len(diff_ids)))
        self.layers: Dict[str, _ArchiveLayer] = {}
        descs = []
        layer_type = OCI_LAYER if self.manifest_format == "oci" else DOCKER_LAYER
        for i, (name, diff_id) in enumerate(zip(layer_paths, diff_ids)):
            layer = self.layers.get(diff_id)
            if layer is None:
                member = self.archive.file(name, " (Layers[%d] in manifest.json)" % i)
                compressed = sniff_compression(self.archive.head(member)) is not None
                size = self._measure(member, diff_id) if compressed else member.size
                layer = self.layers[diff_id] = _ArchiveLayer(member, compressed, size)
            descs.append({"mediaType": layer_type, "size": layer.size, "digest": diff_id})
        if self.manifest_format == "oci":
            doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                   "config": {"mediaType": OCI_CONFIG, "digest": self.config_digest, "size": len(self.config_raw)},
                   "layers": [{"mediaType": d["mediaType"], "digest": d["digest"], "size": d["size"]} for d in descs]}
        else:
            doc = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                   "config": {"mediaType": DOCKER_CONFIG, "size": len(self.config_raw), "digest": self.config_digest},
                   "layers": descs}
        self.manifest = parse_manifest(json_compact(doc), origin=self.describe())

    def _measure(self, member: TarMember, diff_id: str) -> int:
        """Uncompressed size of a compressed layer member, checked against its diff ID."""
        digester = Digester(diff_id)
        reader = open_decompressed(self.archive.open(member))
        try:
            for chunk in iter(lambda: reader.read(CHUNK), b""):
                digester.update(chunk)
        except LayerError as err:
            raise ArchiveError("%s: layer %s: %s" % (self.describe(), member.name, err))
        finally:
            reader.close()
        digester.verify("%s: layer %s (diff ID)" % (self.describe(), member.name))
        return digester.size

    @property
    def repo_tags(self) -> List[str]:
        return list(self.item.get("RepoTags") or [])

    def get_manifest(self, digest: Optional[str] = None, checks: Optional[PendingChecks] = None) -> Manifest:
        if digest is not None and digest != self.manifest.digest:
            raise ManifestError("%s has a single manifest %s, not %s" % (self.describe(), self.manifest.digest, digest))
        return self.manifest

    def _open(self, digest: str) -> Tuple[BinaryIO, bool]:
        """(stream, seekable) of a blob."""
        if digest == self.config_digest:
            return io.BytesIO(self.config_raw), True
        layer = self.layers.get(digest)
        if layer is None:
            raise StoreError("blob %s is not in %s" % (digest, self.describe()))
        stream = self.archive.open(layer.member)
        if layer.compressed:
            return _ReaderAdapter(open_decompressed(stream)), False
        return stream, True

    def blob_opener(self, desc: Dict[str, Any]) -> BlobOpener:
        def opener(offset: int) -> Tuple[BinaryIO, int]:
            stream, seekable = self._open(desc["digest"])
            if not seekable:
                return stream, 0
            stream.seek(offset)
            return stream, offset
        return opener

    def open_file(self, desc: Dict[str, Any]) -> BinaryIO:
        stream, seekable = self._open(desc["digest"])
        if not seekable:
            stream.close()
            return super().open_file(desc)
        return stream

    def close(self) -> None:
        self.archive.close()


class _ReaderAdapter(io.RawIOBase):
    """A file object over a ``read(n)`` decompressing reader."""

    def __init__(self, reader: Any):
        super().__init__()
        self._reader = reader

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        if n is None or n < 0:
            return b"".join(iter(lambda: self._reader.read(CHUNK), b""))
        return self._reader.read(n)

    def readinto(self, buffer: Any) -> int:
        data = self._reader.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._reader.close()
        super().close()


def read_docker_manifest_json(archive: TarArchive) -> List[Dict[str, Any]]:
    """The validated image list of a docker archive's manifest.json."""
    try:
        member = archive.file(MANIFEST_JSON)
    except ArchiveError:
        raise ArchiveError("%s: no manifest.json: not a docker-archive (docker save) file" % archive.what)
    items = load_json(archive.read(member, MAX_JSON_MEMBER), "%s: manifest.json" % archive.what, error=ArchiveError)
    if not isinstance(items, list) or not items:
        raise ArchiveError("%s: manifest.json is not a non-empty list of images" % archive.what)
    for i, item in enumerate(items):
        where = "%s: manifest.json[%d]" % (archive.what, i)
        if not isinstance(item, dict):
            raise ArchiveError("%s is not an object" % where)
        if not isinstance(item.get("Config"), str) or not item["Config"]:
            raise ArchiveError("%s has no Config" % where)
        clean_member_name(item["Config"], where + " Config")
        layers = item.get("Layers")
        if not isinstance(layers, list) or not all(isinstance(x, str) and x for x in layers):
            raise ArchiveError("%s: Layers is not a list of paths" % where)
        for layer in layers:
            clean_member_name(layer, where + " Layers")
        tags = item.get("RepoTags")
        if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            raise ArchiveError("%s: RepoTags is not a list of names" % where)
    return items


# ---------------------------------------------------------------------------------------
# docker-archive destination
# ---------------------------------------------------------------------------------------
class _Received:
    __slots__ = ("path", "diff_id", "size")

    def __init__(self, path: str, diff_id: str, size: int) -> None:
        self.path = path
        self.diff_id = diff_id
        self.size = size            # of the uncompressed file


class DockerArchiveImageDestination(ImageDestination):
    """Writes one image as a ``docker load``-able archive, replacing FILE on commit."""

    def __init__(self, path: str, ref: Optional[str] = None, tmp_dir: Optional[str] = None):
        if not path:
            raise ArchiveError("docker-archive: empty path")
        self.path = path
        self.ref = ref or ""
        wanted, dummy = parse_docker_archive_ref(ref, for_destination=True)
        # Fully qualified, as skopeo writes it: podman load reads a familiar "alpine:9" as
        # localhost/alpine:9, while docker load normalises either form to the same name.
        self.repo_tags = [str(wanted)] if wanted is not None else []
        if os.path.isdir(path):
            raise ArchiveError("%s: is a directory" % self.describe())
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise ArchiveError("%s: directory %s does not exist" % (self.describe(), parent))
        self.work = tempfile.mkdtemp(prefix="undock-docker-archive-", dir=big_temp_dir(tmp_dir))
        self._blobs = OCILayout.create(os.path.join(self.work, "blobs"))
        self._received: Dict[str, _Received] = {}
        self._lock = threading.Lock()
        self._old_members: Dict[str, int] = {}
        if os.path.isfile(path):
            # What the archive already holds: a blob found there again is reported as not
            # moved (commit still compares the whole file and rewrites it if anything differs).
            try:
                old = TarArchive(path, self.describe(), tmp_dir=tmp_dir, allow_symlinks=True)
            except UndockError:
                old = None
            if old is not None:
                self._old_members = {n: m.size for n, m in old.members.items() if m.kind == "file"}
                old.close()

    def describe(self) -> str:
        return "docker-archive:%s%s" % (self.path, ":" + self.ref if self.ref else "")

    def has_blob(self, desc: Dict[str, Any]) -> bool:
        with self._lock:
            return desc["digest"] in self._received

    def put_blob(self, desc: Dict[str, Any], source: ImageSource, received: Received = None) -> bool:
        digest = desc["digest"]
        parse_digest(digest)
        with self._lock:
            if digest in self._received:
                return False
        # Verified, retried and resumed like any layout ingest; then decompressed locally.
        self._blobs.ingest_blob(desc, source.blob_opener(desc))
        path = self._blobs.blob_path(digest)
        with open(path, "rb") as handle:
            compressed = sniff_compression(handle.read(6)) is not None
        if compressed:
            diff = Digester()
            fd, temp = tempfile.mkstemp(prefix="layer-", dir=self.work)
            try:
                with open(path, "rb") as stream, os.fdopen(fd, "wb") as out:
                    reader = open_decompressed(stream, desc.get("mediaType"))
                    try:
                        for chunk in iter(lambda: reader.read(CHUNK), b""):
                            diff.update(chunk)
                            out.write(chunk)
                    except LayerError as err:
                        raise LayerError("%s: blob %s from %s: %s" % (self.describe(), digest, source.describe(), err))
                    finally:
                        reader.close()
            except BaseException:
                os.unlink(temp)
                raise
            os.unlink(path)
            kept = _Received(temp, diff.digest(), diff.size)
        else:
            kept = _Received(path, digest, os.stat(path).st_size)
        with self._lock:
            self._received[digest] = kept
        hexpart = parse_digest(kept.diff_id)[1]
        for name in (hexpart + ".tar", hexpart + ".json"):
            if self._old_members.get(name) == kept.size:
                return False
        return True

    def put_manifest(self, manifest: Manifest) -> None:
        if manifest.is_index:
            raise ManifestError("%s holds single images; select a platform from index %s"
                                % (self.describe(), manifest.digest))

    def commit(self, manifest: Manifest, annotations: Optional[Dict[str, str]] = None,
               platform: Optional[Dict[str, str]] = None) -> bool:
        self.put_manifest(manifest)
        received = self._received
        missing = [d["digest"] for d in manifest.blobs() if d["digest"] not in received]
        if missing:
            raise StoreError("%s: blobs were not copied before commit: %s" % (self.describe(), ", ".join(missing)))
        config_blob = received[manifest.config["digest"]]
        with open(config_blob.path, "rb") as handle:
            config_raw = handle.read(MAX_CONFIG + 1)
        if len(config_raw) > MAX_CONFIG:
            raise ManifestError("%s: image config is too large" % self.describe())
        if config_blob.diff_id != manifest.config["digest"]:
            raise ManifestError("%s: image config %s is compressed" % (self.describe(), manifest.config["digest"]))
        config = load_json(config_raw, "%s: image config" % self.describe(), error=ManifestError)
        diff_ids = ((config.get("rootfs") or {}).get("diff_ids") if isinstance(config, dict) else None)
        actual = [received[d["digest"]].diff_id for d in manifest.layers]
        if diff_ids != actual:
            raise ManifestError("%s: the layers' uncompressed digests %s do not match the config's "
                                "rootfs.diff_ids %s" % (self.describe(), actual, diff_ids))
        config_name = parse_digest(manifest.config["digest"])[1] + ".json"
        layer_names = [parse_digest(d)[1] + ".tar" for d in actual]
        manifest_json = json_compact([{"Config": config_name, "RepoTags": self.repo_tags, "Layers": layer_names}])

        def fill(writer: "TarWriter") -> None:
            writer.add_bytes(MANIFEST_JSON, manifest_json)
            writer.add_bytes(config_name, config_raw)
            written = set()
            for desc, name in zip(manifest.layers, layer_names):
                if name not in written:
                    written.add(name)
                    writer.add_file(name, received[desc["digest"]].path)

        return write_tar(self.path, fill)

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
