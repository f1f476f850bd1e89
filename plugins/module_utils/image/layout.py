# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``oci:DIR[:REF]`` and ``oci-archive:FILE[:REF]`` transports (containers/image semantics).

REF is the ``org.opencontainers.image.ref.name`` annotation of an index.json entry. A
source without REF takes the only entry of index.json, and refuses to guess when there
are several. A destination replaces the entry carrying its REF (as skopeo does), or adds
an unnamed entry when REF is empty.

An ``oci-archive`` is a tar of a layout. As a source it is read in place (see
tar_archive.TarArchive): only ``oci-layout``, ``index.json`` and ``blobs/<alg>/<hex>`` (a
valid digest) may be in it, as regular files or directories; symlinks, hard links,
devices, absolute names and ``..`` are refused with an error before anything is read,
and nothing is ever extracted, so a hostile archive has nowhere to write. (docker >= 25
``docker save`` output, an OCI layout plus ``manifest.json`` and ``repositories``, is
accepted; those two files are ignored.) As a destination, blobs go to a temporary
layout; on commit the archive is rewritten as one deterministic tar (temp file + rename)
holding the new entry, the other entries of the existing FILE, and every blob they reach
(skopeo 1.9.3 instead overwrites FILE with the one image). Nothing is rewritten when the
entry and its blobs were already there.

No locking: two writers of the same ``oci:`` directory at once can lose an index.json
update, as with skopeo and umoci. The content store (storage.store) is the locked one.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

from ..model.digest import Digester, InvalidDigestError, is_digest, parse_digest
from ..common.errors import ManifestError, StoreError, UndockError
from ..common.jsonutil import load_json
from ..common.fileutil import open_regular_file
from ..model import schemas
from ..model.graph import walk
from ..model.manifest import MAX_MANIFEST_SIZE, Manifest, check_manifest, parse_manifest
from ..model.pending import PendingChecks
from ..model.validation import validate_document
from ..signing.location import ImageLocation
from ..storage.layout import LAYOUT_VERSION, REF_NAME, OCILayout
from .tar_archive import MAX_JSON_MEMBER, ArchiveError, TarArchive, TarMember, big_temp_dir
from .tar_writer import TarWriter, json_compact, write_tar
from .interfaces import ImageDestination, ImageSource

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Dict, List, Optional, Set, Tuple
    from ..storage.layout import BlobOpener, Received

# The ref.name grammar of the image-spec (annotations.md), as containers/image checks it.
_COMPONENT = r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*"
_REF_NAME_RE = re.compile(r"%s(?:/%s)*" % (_COMPONENT, _COMPONENT))
_ARCHIVE_EXTRAS = ("manifest.json", "repositories")  # docker >= 25 save output; ignored


class LayoutRefError(UndockError):
    """An ``oci:`` / ``oci-archive:`` reference is invalid or names nothing unambiguous."""


def validate_ref_name(ref: Optional[str], transport: str = "oci") -> str:
    """Return ``ref`` ('' for None) if it is a valid ref.name, else raise LayoutRefError."""
    if not ref:
        return ""
    if not _REF_NAME_RE.fullmatch(ref):
        raise LayoutRefError("%s: invalid image reference name %r (letters, digits and '-._:@+' separators, "
                             "components joined by '/')" % (transport, ref))
    return ref


def select_entry(manifests: List[Dict[str, Any]], ref: str, where: str) -> Dict[str, Any]:
    """The index.json entry ``ref`` names, or the only entry when ``ref`` is empty, from
    entries checked against the index schema."""
    def name_of(desc: Dict[str, Any]) -> Optional[str]:
        return (desc.get("annotations") or {}).get(REF_NAME)

    if ref:
        found = [d for d in manifests if name_of(d) == ref]
        if not found:
            names = sorted({n for n in (name_of(d) for d in manifests) if n})
            raise LayoutRefError("%s: no image named %r (names: %s)" % (where, ref, ", ".join(names) or "none"))
        if len({d.get("digest") for d in found}) > 1:
            raise LayoutRefError("%s: index.json has several different entries named %r" % (where, ref))
        entry = found[0]
    else:
        if not manifests:
            raise LayoutRefError("%s: index.json holds no image" % where)
        if len(manifests) > 1:
            names = sorted({n for n in (name_of(d) for d in manifests) if n})
            raise LayoutRefError("%s: index.json holds %d images; name one with :REF (names: %s)"
                                 % (where, len(manifests), ", ".join(names) or "none"))
        entry = manifests[0]
    return entry


# ---------------------------------------------------------------------------------------
# sources
# ---------------------------------------------------------------------------------------
class _LayoutReader(ImageSource):
    """What the directory and the archive sources share: index.json, then blobs by digest."""

    transport = "oci"

    def __init__(self, path: str, ref: Optional[str]):
        if not path:
            raise LayoutRefError("%s: empty path" % self.transport)
        self.path = path
        self.ref = validate_ref_name(ref, self.transport)

    def describe(self) -> str:
        return "%s:%s%s" % (self.transport, self.path, ":" + self.ref if self.ref else "")

    def policy_location(self) -> Optional[ImageLocation]:
        return ImageLocation.of_file(self.transport, self.path)

    def _select(self, index: Any) -> None:
        validate_document(index, schemas.OCI_INDEX, "%s: index.json" % self.describe())
        self.index = index
        self.entry = select_entry(index["manifests"], self.ref, self.describe())

    # -- what the two kinds provide ------------------------------------------------------
    def _open_blob(self, digest: str) -> BinaryIO:
        raise NotImplementedError

    def _blob_size(self, digest: str) -> Optional[int]:
        raise NotImplementedError

    # -- ImageSource -------------------------------------------------------------------
    def _read_small(self, digest: str, limit: int, what: str) -> bytes:
        size = self._blob_size(digest)
        if size is not None and size > limit:
            raise ManifestError("%s: %s %s is %d bytes, more than the %d allowed"
                                % (self.describe(), what, digest, size, limit))
        with self._open_blob(digest) as handle:
            data = handle.read(limit + 1)
        digester = Digester(digest)
        digester.update(data)
        digester.verify("%s %s in %s" % (what, digest, self.describe()))
        return data

    def get_manifest(self, digest: Optional[str] = None, checks: Optional[PendingChecks] = None) -> Manifest:
        if digest is None:
            digest, media_type = self.entry["digest"], self.entry.get("mediaType")
        else:
            parse_digest(digest)
            media_type = None
        raw = self._read_small(digest, MAX_MANIFEST_SIZE, "manifest")
        manifest = parse_manifest(raw, media_type, digest, origin=self.describe(), validate=checks is None)
        if checks is not None:
            checks.add(lambda: check_manifest(manifest, self.describe()))
        return manifest

    def blob_opener(self, desc: Dict[str, Any]) -> BlobOpener:
        digest = desc["digest"]
        parse_digest(digest)

        def opener(offset: int) -> Tuple[BinaryIO, int]:
            handle = self._open_blob(digest)
            handle.seek(offset)
            return handle, offset
        return opener

    def open_file(self, desc: Dict[str, Any]) -> BinaryIO:
        return self._open_blob(desc["digest"])


class LayoutImageSource(_LayoutReader):
    """``oci:DIR[:REF]``: an image in an OCI image layout directory."""

    transport = "oci"

    def __init__(self, path: str, ref: Optional[str] = None):
        super().__init__(path, ref)
        try:
            self.layout = OCILayout.open(path)
        except StoreError as err:
            raise StoreError("%s: %s" % (self.describe(), err))
        try:
            with open_regular_file(self.layout.index_path, "%s: index.json" % self.describe()) as handle:
                raw = handle.read(MAX_JSON_MEMBER + 1)
        except OSError as err:
            raise StoreError("%s: cannot read index.json: %s" % (self.describe(), err))
        self._select(_load_json(raw, "%s: index.json" % self.describe()))

    def _open_blob(self, digest: str) -> BinaryIO:
        try:
            return open_regular_file(self.layout.blob_path(digest), "%s: blob %s" % (self.describe(), digest))
        except FileNotFoundError:
            raise StoreError("%s: blob %s is missing" % (self.describe(), digest))

    def _blob_size(self, digest: str) -> Optional[int]:
        try:
            return os.stat(self.layout.blob_path(digest)).st_size
        except OSError:
            return None


def check_oci_archive_member(name: str, kind: str) -> None:
    """Raise ArchiveError unless ``name`` may be in an OCI layout tar."""
    if kind == "dir":
        if name in ("", "blobs") or (name.startswith("blobs/") and name[6:] in ("sha256", "sha512")):
            return
    elif kind == "file":
        if name in ("oci-layout", "index.json") or name in _ARCHIVE_EXTRAS:
            return
        parts = name.split("/")
        if len(parts) == 3 and parts[0] == "blobs":
            try:
                parse_digest("%s:%s" % (parts[1], parts[2]))
            except InvalidDigestError as err:
                raise ArchiveError("oci-archive member %r is not a blob: %s" % (name, err))
            return
    raise ArchiveError("oci-archive member %r (%s) is not part of an OCI image layout; only oci-layout, "
                       "index.json and blobs/ALG/HEX may be in it" % (name, kind))


def open_oci_archive(path: str, tmp_dir: Optional[str] = None) -> TarArchive:
    """Index an oci-archive (validated), and check its oci-layout version."""
    archive = TarArchive(path, "oci-archive:%s" % path, tmp_dir=tmp_dir, allowed=_checked_member(path))
    try:
        marker = archive.members.get("oci-layout")
        if marker is None or marker.kind != "file":
            raise ArchiveError("%s: no oci-layout file: not an OCI archive" % archive.what)
        layout = _load_json(archive.read(marker, 4096), "%s: oci-layout" % archive.what)
        version = layout.get("imageLayoutVersion") if isinstance(layout, dict) else None
        if not isinstance(version, str) or not version.startswith("1."):
            raise ArchiveError("%s: unsupported imageLayoutVersion %r" % (archive.what, version))
        if "index.json" not in archive.members:
            raise ArchiveError("%s: no index.json: not an OCI archive" % archive.what)
    except BaseException:
        archive.close()
        raise
    return archive


def _checked_member(path: str) -> Any:
    def check(name: str, kind: str) -> None:
        try:
            check_oci_archive_member(name, kind)
        except ArchiveError as err:
            raise ArchiveError("oci-archive:%s: %s" % (path, err))
    return check


def _archive_blob_name(digest: str) -> str:
    algorithm, hexpart = parse_digest(digest)
    return "blobs/%s/%s" % (algorithm, hexpart)


class OciArchiveImageSource(_LayoutReader):
    """``oci-archive:FILE[:REF]``: an image in a tar of an OCI layout, read in place."""

    transport = "oci-archive"

    def __init__(self, path: str, ref: Optional[str] = None, tmp_dir: Optional[str] = None):
        super().__init__(path, ref)
        self.archive = open_oci_archive(path, tmp_dir)
        try:
            index_member = self.archive.file("index.json")
            self._select(_load_json(self.archive.read(index_member, MAX_JSON_MEMBER),
                                    "%s: index.json" % self.describe()))
        except BaseException:
            self.archive.close()
            raise

    def _member(self, digest: str) -> TarMember:
        member = self.archive.members.get(_archive_blob_name(digest))
        if member is None:
            raise StoreError("%s: blob %s is missing" % (self.describe(), digest))
        return member

    def _open_blob(self, digest: str) -> BinaryIO:
        return self.archive.open(self._member(digest))

    def _blob_size(self, digest: str) -> Optional[int]:
        return self._member(digest).size

    def close(self) -> None:
        self.archive.close()


def _load_json(raw: bytes, what: str) -> Any:
    if len(raw) > MAX_JSON_MEMBER:
        raise ManifestError("%s is larger than %d bytes" % (what, MAX_JSON_MEMBER))
    return load_json(raw, what, error=ManifestError)


# ---------------------------------------------------------------------------------------
# destinations
# ---------------------------------------------------------------------------------------
class LayoutImageDestination(ImageDestination):
    """``oci:DIR[:REF]``: creates the layout if missing; blobs are verified before they are named."""

    transport = "oci"

    def __init__(self, path: str, ref: Optional[str] = None):
        if not path:
            raise LayoutRefError("%s: empty path" % self.transport)
        self.path = path
        self.ref = validate_ref_name(ref, self.transport)
        self.layout = self._open_or_create(path)

    def _open_or_create(self, path: str) -> OCILayout:
        if os.path.exists(os.path.join(path, "oci-layout")):
            try:
                return OCILayout.open(path)
            except StoreError as err:
                raise StoreError("%s: %s" % (self.describe(), err))
        if os.path.exists(path):
            if not os.path.isdir(path):
                raise StoreError("%s: %s exists and is not a directory" % (self.describe(), path))
            if os.listdir(path):
                raise StoreError("%s: %s is a non-empty directory that is not an OCI layout; refusing to "
                                 "write into it" % (self.describe(), path))
        return OCILayout.create(path)

    def describe(self) -> str:
        return "%s:%s%s" % (self.transport, self.path, ":" + self.ref if self.ref else "")

    def has_blob(self, desc: Dict[str, Any]) -> bool:
        return self.layout.has_blob(desc["digest"], desc.get("size"))

    def put_blob(self, desc: Dict[str, Any], source: ImageSource, received: Received = None) -> bool:
        return self.layout.ingest_blob(desc, source.blob_opener(desc), received=received)

    def put_manifest(self, manifest: Manifest) -> None:
        if not self.has_blob({"digest": manifest.digest, "size": len(manifest.raw)}):
            self.layout.write_blob(manifest.raw, manifest.digest)

    def commit(self, manifest: Manifest, annotations: Optional[Dict[str, str]] = None,
               platform: Optional[Dict[str, str]] = None) -> bool:
        self.put_manifest(manifest)
        desc: Dict[str, Any] = {"mediaType": manifest.media_type, "digest": manifest.digest,
                                "size": len(manifest.raw)}
        if platform and not manifest.is_index:
            desc["platform"] = dict(platform)
        extra = {k: v for k, v in (annotations or {}).items() if k != REF_NAME}
        if extra:
            desc["annotations"] = extra
        return self.layout.put_ref(self.ref or None, desc)


class OciArchiveImageDestination(LayoutImageDestination):
    """``oci-archive:FILE[:REF]``: a temporary layout, tarred over FILE atomically on commit.

    The entries of an existing FILE are kept (other refs survive); blobs no entry
    reaches any more are dropped from the new archive.
    """

    transport = "oci-archive"

    def __init__(self, path: str, ref: Optional[str] = None, tmp_dir: Optional[str] = None):
        if not path:
            raise LayoutRefError("%s: empty path" % self.transport)
        self.path = path
        self.ref = validate_ref_name(ref, self.transport)
        if os.path.isdir(path):
            raise ArchiveError("%s: is a directory" % self.describe())
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise ArchiveError("%s: directory %s does not exist" % (self.describe(), parent))
        self.work = tempfile.mkdtemp(prefix="undock-oci-archive-", dir=big_temp_dir(tmp_dir))
        self.old: Optional[TarArchive] = None
        try:
            self.layout = OCILayout.create(os.path.join(self.work, "layout"))
            if os.path.exists(path):
                self.old = open_oci_archive(path, tmp_dir)
                raw = self.old.read(self.old.file("index.json"), MAX_JSON_MEMBER)
                index = _load_json(raw, "%s: index.json" % self.describe())
                if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
                    raise ManifestError("%s: index.json is not an OCI image index" % self.describe())
                self.layout.write_index(index)
        except BaseException:
            self.close()
            raise

    def _old_member(self, digest: str) -> Optional[TarMember]:
        if self.old is None:
            return None
        member = self.old.members.get(_archive_blob_name(digest))
        return member if member is not None and member.kind == "file" else None

    def has_blob(self, desc: Dict[str, Any]) -> bool:
        member = self._old_member(desc["digest"])
        size = desc.get("size")
        if member is not None and (size is None or size < 0 or member.size == size):
            return True
        return super().has_blob(desc)

    def _read_blob(self, digest: str) -> Optional[bytes]:
        if self.layout.has_blob(digest):
            with self.layout.open_blob(digest) as handle:
                data = handle.read(MAX_MANIFEST_SIZE + 1)
        else:
            member = self._old_member(digest)
            if member is None or member.size > MAX_MANIFEST_SIZE:
                return None
            data = self.old.read(member, MAX_MANIFEST_SIZE)  # type: ignore[union-attr]
        digester = Digester(digest)
        digester.update(data)
        try:
            digester.verify("blob %s" % digest)
        except UndockError:
            return None
        return data

    def _reachable(self, index: Dict[str, Any]) -> Optional[Set[str]]:
        """Every blob the index reaches, or None if some manifest cannot be read (then keep all).

        Index entries, an index's children and a ``subject`` are manifests and are walked;
        configs and layers are leaves. A manifest we cannot parse (an artifact type we do
        not know, a missing blob) makes the walk give up rather than drop what it reaches.
        """
        class GiveUp(Exception):
            pass

        def fetch(desc: Dict[str, Any]) -> Manifest:
            data = self._read_blob(desc["digest"]) if is_digest(desc["digest"]) else None
            if data is None:
                raise GiveUp()
            try:
                return parse_manifest(data, desc.get("mediaType"), desc["digest"])
            except UndockError:
                raise GiveUp()

        roots = index.get("manifests") or []
        if not all(isinstance(d, dict) and is_digest(d.get("digest")) for d in roots):
            return None
        try:
            digests = [reached.desc["digest"] for reached in walk(roots, fetch)]
        except GiveUp:
            return None
        return set(digests) if all(is_digest(d) for d in digests) else None

    def commit(self, manifest: Manifest, annotations: Optional[Dict[str, str]] = None,
               platform: Optional[Dict[str, str]] = None) -> bool:
        index_changed = super().commit(manifest, annotations, platform)
        new_blobs = set(self.layout.blob_digests())
        if self.old is not None and not index_changed and \
                all(self._old_member(d) is not None for d in new_blobs):
            return False
        index = self.layout.read_index()
        reachable = self._reachable(index)
        old_blobs = set()
        if self.old is not None:
            old_blobs = {"%s:%s" % tuple(name.split("/")[1:3]) for name, m in self.old.members.items()
                         if m.kind == "file" and name.startswith("blobs/")}
        everything = new_blobs | old_blobs
        keep = everything if reachable is None else (everything & reachable)

        def fill(writer: TarWriter) -> None:
            writer.add_bytes("oci-layout", json_compact(LAYOUT_VERSION))
            writer.add_bytes("index.json", json_compact(index))
            writer.add_dir("blobs")
            for algorithm in sorted({parse_digest(d)[0] for d in keep} | {"sha256"}):
                writer.add_dir("blobs/" + algorithm)
            for digest in sorted(keep):
                name = _archive_blob_name(digest)
                if digest in new_blobs:
                    writer.add_file(name, self.layout.blob_path(digest))
                    continue
                member = self._old_member(digest)
                if member is None or self.old is None:
                    raise StoreError("%s: blob %s vanished from the archive being updated" % (self.path, digest))
                with self.old.open(member) as stream:
                    writer.add_stream(name, member.size, stream)

        return write_tar(self.path, fill)

    def close(self) -> None:
        if self.old is not None:
            self.old.close()
            self.old = None
        shutil.rmtree(self.work, ignore_errors=True)
