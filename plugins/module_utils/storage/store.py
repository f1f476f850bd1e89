# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared content store: an OCI image layout plus locks, resumable downloads and checks.

Layout under ``root`` (0700):

- ``oci-layout``, ``index.json``, ``blobs/sha256/``: a valid OCI image layout. Each local
  image is an index.json entry annotated with ``org.opencontainers.image.ref.name`` =
  its full normalised reference, so ``skopeo inspect oci:ROOT:REF`` works on the store.
- ``tmp/``: partial downloads (``<alg>-<hex>.partial``, resumed by the next run) and temps.
- ``locks/``: lock files. ``index.lock`` serialises index.json writers; ``blob-<hex>.lock``
  makes two processes that want the same blob download it once; ``gc.lock`` is held shared
  by every writer and exclusively by garbage collection, so GC never deletes a blob that a
  writer has fetched but not yet referenced.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time

from ..model.digest import Digester, parse_digest
from ..common.errors import StoreError, UndockError
from ..common.fileutil import makedirs_private
from ..common.locks import FileLock
from ..model.manifest import IMAGE_MANIFEST_TYPES, INDEX_TYPES, Manifest, parse_manifest
from .peek import REF_NAME, original_manifest

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:  # the layout is loaded by the first read or write through it (Store.layout)
    from typing import Any, Dict, Iterable, Iterator, List, Optional, Set
    from .layout import BlobOpener, OCILayout

DEFAULT_ROOT = "/var/lib/undock"
DEFAULT_RUN_ROOT = "/run/undock"
STALE_TEMP_SECONDS = 3600
STALE_PARTIAL_SECONDS = 7 * 24 * 3600

MANIFEST_TYPES = IMAGE_MANIFEST_TYPES + INDEX_TYPES
# What a store holds at its top (overlay/ and the rest come later): a directory holding
# only some of these, and no oci-layout, is a store whose creation was interrupted.
_CREATED_FIRST = ("tmp", "locks", "blobs", "index.json")
# The only entry of a new file system's root: a volume mounted at storage_root is empty.
_EMPTY_VOLUME = ("lost+found",)


def store_exists(root: str) -> bool:
    """Whether ``root`` holds a store; False where one may be made (a new or empty directory).

    A store never takes over a directory: anything else at ``root`` (a file, a directory
    with other content, an OCI layout that some other tool wrote) is a StoreError. While
    another process is making the store, this waits for it (see ``_directory_lock``).
    """
    if not _is_directory(root):
        return False
    with _directory_lock(root, exclusive=False):
        return _holds_store(root)


def _is_directory(root: str) -> bool:
    """False when ``root`` does not exist; a StoreError when it is not a usable directory."""
    if not isinstance(root, str) or not root.strip():
        raise StoreError("storage_root is empty: give the directory of the store (default %s)" % DEFAULT_ROOT)
    try:
        mode = os.stat(root).st_mode
    except FileNotFoundError:
        return False
    except OSError as err:
        raise StoreError("storage_root %s cannot be used: %s" % (root, err.strerror or err))
    if not stat.S_ISDIR(mode):
        raise StoreError("storage_root %s is not a directory: a store is a directory of its own" % root)
    return True


@contextlib.contextmanager
def _directory_lock(root: str, exclusive: bool) -> Iterator[None]:
    """flock on the storage_root directory itself: the one who makes the store holds it
    exclusively from the emptiness check to the oci-layout file, so that a second process
    never sees (and refuses) a store half made. Nothing is written outside the directory."""
    try:
        lock = FileLock(root, shared=not exclusive)
        lock.acquire()
    except OSError as err:
        raise StoreError("storage_root %s cannot be opened: %s" % (root, err.strerror or err))
    try:
        yield
    finally:
        lock.release()


def _holds_store(root: str) -> bool:
    try:
        names = set(os.listdir(root))
    except OSError as err:
        raise StoreError("storage_root %s cannot be read: %s" % (root, err.strerror or err))
    if "oci-layout" in names:
        if stat.S_ISREG(os.lstat(os.path.join(root, "oci-layout")).st_mode) and \
                os.path.isdir(os.path.join(root, "locks")):
            return True
        raise StoreError("storage_root %s holds an OCI image layout that is not an undock store (it has no "
                         "locks/): choose a new or empty directory, or copy the images in with source: oci:%s"
                         % (root, root))
    foreign = sorted(names - set(_CREATED_FIRST) - set(_EMPTY_VOLUME))
    if foreign:
        raise StoreError("storage_root %s is neither empty nor a store (it holds %s%s): a store is made only in "
                         "a new or empty directory" % (root, ", ".join(foreign[:5]), ", ..." if len(foreign) > 5 else ""))
    return False


def open_store(root: str, run_root: str = DEFAULT_RUN_ROOT, create: bool = True,
               check_mode: bool = False) -> Optional["Store"]:
    """The store at ``root``, made there unless ``check_mode``; None when there is none and
    none may be made (``check_mode``, or ``create`` false)."""
    if not store_exists(root) and (check_mode or not create):
        return None
    return Store.open(root, run_root, create=not check_mode)


class Store:
    def __init__(self, root: str = DEFAULT_ROOT, run_root: str = DEFAULT_RUN_ROOT):
        self.root = os.path.abspath(root)
        self.run_root = run_root
        self.tmp = os.path.join(self.root, "tmp")
        self.locks = os.path.join(self.root, "locks")
        self._layout: Optional[OCILayout] = None

    @property
    def layout(self) -> "OCILayout":
        """The OCI layout's reads and writes. A container start from a stored image reads the
        store through peek.py only, and a module compiles every file it imports on every run."""
        if self._layout is None:
            from .layout import OCILayout  # here: see above
            self._layout = OCILayout(self.root, tmp_dir=self.tmp)
        return self._layout

    @classmethod
    def open(cls, root: str = DEFAULT_ROOT, run_root: str = DEFAULT_RUN_ROOT, create: bool = True) -> "Store":
        """The store at ``root``, made there (``create``) in a new or empty directory."""
        exists = store_exists(root)
        store = cls(root, run_root)
        if not exists:
            if not create:
                raise StoreError("no store at %s" % store.root)
            makedirs_private(store.root)
            with _directory_lock(store.root, exclusive=True):
                if not _holds_store(store.root):  # another process may have made it meanwhile
                    os.chmod(store.root, 0o700)
                    store._make()
        else:
            store._make()  # repairs what a store made by an older version may lack
        store.clean_stale_temporaries()
        return store

    def _make(self) -> None:
        for directory in (self.tmp, self.locks):
            makedirs_private(directory)
        if not os.path.exists(os.path.join(self.root, "oci-layout")):  # OCILayout.create writes it last
            from .layout import OCILayout  # here: see Store.layout
            OCILayout.create(self.root, mode=0o700)

    # -- locks ----------------------------------------------------------------------
    def index_lock(self) -> FileLock:
        return FileLock(os.path.join(self.locks, "index.lock"))

    def blob_lock(self, digest: str) -> FileLock:
        algorithm, hexpart = parse_digest(digest)
        return FileLock(os.path.join(self.locks, "blob-%s-%s.lock" % (algorithm, hexpart)))

    def _gc_lock(self, shared: bool) -> FileLock:
        return FileLock(os.path.join(self.locks, "gc.lock"), shared=shared)

    def writing(self) -> FileLock:
        """Hold while adding content, until it is referenced from index.json."""
        return self._gc_lock(shared=True)

    def collecting(self) -> FileLock:
        """Hold while deleting unreferenced content: waits for every writer to finish."""
        return self._gc_lock(shared=False)

    def roots(self, exclude: Iterable[str] = ()) -> List[Dict[str, Any]]:
        """index.json entries, less those named in ``exclude`` (to ask "what if they were gone")."""
        excluded = set(exclude)
        return [d for d in self.layout.entries() if (d.get("annotations") or {}).get(REF_NAME) not in excluded]

    # -- content --------------------------------------------------------------------
    def has_blob(self, digest: str, size: Optional[int] = None) -> bool:
        return self.layout.has_blob(digest, size)

    def read_blob(self, digest: str) -> bytes:
        return self.layout.read_blob(digest)

    def open_blob(self, digest: str):
        return self.layout.open_blob(digest)

    def partial_path(self, digest: str) -> str:
        algorithm, hexpart = parse_digest(digest)
        return os.path.join(self.tmp, "%s-%s.partial" % (algorithm, hexpart))

    def ingest_blob(self, desc: Dict[str, Any], opener: BlobOpener, **kwargs: Any) -> bool:
        """Download a blob once even if several processes want it. Returns True if it was fetched.
        ``kwargs`` go to OCILayout.ingest_blob (``received``: see storage.layout.Received)."""
        if self.layout.has_blob(desc["digest"], desc.get("size")):
            return False
        with self.blob_lock(desc["digest"]):
            return self.layout.ingest_blob(desc, opener, partial_path=self.partial_path(desc["digest"]), **kwargs)

    def write_blob(self, data: bytes, digest: Optional[str] = None) -> str:
        return self.layout.write_blob(data, digest)

    # -- names ----------------------------------------------------------------------
    def lookup(self, ref_name: str) -> Optional[Dict[str, Any]]:
        return self.layout.find(ref_name)

    def images(self) -> List[Dict[str, Any]]:
        return [d for d in self.layout.entries() if (d.get("annotations") or {}).get(REF_NAME)]

    def tag(self, ref_name: str, desc: Dict[str, Any]) -> bool:
        """Name an image whose blobs are all present. Returns True if the store changed."""
        with self.index_lock():
            return self.layout.put_ref(ref_name, desc)

    def untag(self, ref_name: str) -> Optional[Dict[str, Any]]:
        with self.index_lock():
            return self.layout.remove_ref(ref_name)

    # -- reachability, GC and checks -------------------------------------------------
    def _with_originals(self, entries: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """index.json entries, each followed by the manifest as pulled where it differs."""
        roots = []
        for entry in entries:
            roots.append(entry)
            if original_manifest(entry) is not entry:
                roots.append(original_manifest(entry))
        return roots

    def stored_manifest(self, desc: Dict[str, Any]) -> Optional[Manifest]:
        """The manifest ``desc`` names, if it is one and is here and readable (else None)."""
        if desc.get("mediaType") not in MANIFEST_TYPES or not self.layout.has_blob(desc["digest"]):
            return None
        try:
            return parse_manifest(self.layout.read_blob(desc["digest"]), desc["mediaType"], desc["digest"],
                                  validate=False)
        except UndockError:
            return None

    def referenced_blobs(self, descs: Optional[List[Dict[str, Any]]] = None) -> Set[str]:
        """Every blob reachable from ``descs`` (default: all index.json entries)."""
        from ..model.graph import walk  # here: only garbage collection and checks walk the graph
        roots = self._with_originals(self.layout.entries() if descs is None else descs)
        return {reached.desc["digest"] for reached in walk(roots, self.stored_manifest)}

    def collect_garbage(self, dry_run: bool = False, exclude: Iterable[str] = ()) -> Dict[str, int]:
        """Remove blobs no index.json entry reaches (entries named in ``exclude`` not counted:
        with ``dry_run``, what removing them would free). Returns counts and bytes freed."""
        freed = {"blobs": 0, "bytes": 0}
        with self.collecting(), self.index_lock():
            keep = self.referenced_blobs(self.roots(exclude))
            for digest in list(self.layout.blob_digests()):
                if digest in keep:
                    continue
                path = self.layout.blob_path(digest)
                try:
                    freed["bytes"] += os.lstat(path).st_size
                except FileNotFoundError:
                    continue
                freed["blobs"] += 1
                if not dry_run:
                    self.layout.remove_blob(digest)
        return freed

    def check(self, ref_names: Optional[List[str]] = None) -> List[str]:
        """Verify every named image's manifest, config and layers. Returns the problems found."""
        problems: List[str] = []
        entries = self.images()
        if ref_names is not None:
            entries = [d for d in entries if d["annotations"][REF_NAME] in ref_names]
        verified: Set[str] = set()
        for entry in entries:
            problems.extend(self._check_entry(entry, verified))
        return problems

    def _check_entry(self, entry: Dict[str, Any], verified: Set[str]) -> List[str]:
        """The problems of one image; ``verified`` holds the blobs found good so far."""
        name = entry["annotations"][REF_NAME]
        problems: List[str] = []

        def verify(desc: Dict[str, Any], is_manifest: bool) -> Optional[Manifest]:
            manifest = None
            try:
                if is_manifest and desc.get("mediaType") in MANIFEST_TYPES:
                    manifest = parse_manifest(self.layout.read_blob(desc["digest"]), desc["mediaType"], desc["digest"])
                elif desc["digest"] not in verified:
                    self.verify_blob(desc)
                verified.add(desc["digest"])
            except UndockError as err:
                problems.append("%s: %s" % (name, err))
            return manifest

        from ..model.graph import walk  # here: see referenced_blobs
        for reached in walk(self._with_originals([entry]), lambda desc: verify(desc, True)):
            if not reached.is_manifest:
                verify(reached.desc, False)
        return problems

    def verify_blob(self, desc: Dict[str, Any]) -> None:
        digester = Digester(desc["digest"])
        with self.layout.open_blob(desc["digest"]) as handle:
            for chunk in iter(lambda: handle.read(1024 * 1024), b""):
                digester.update(chunk)
        digester.verify("blob %s" % desc["digest"], desc.get("size"))

    def clean_stale_temporaries(self, now: Optional[float] = None) -> int:
        """Remove temps left by killed processes. Partials nobody is downloading are kept
        for a week so an interrupted pull resumes; plain temps go after an hour."""
        now = now or time.time()
        removed = 0
        for directory in (self.tmp, os.path.join(self.root, "blobs", "sha256")):
            try:
                names = os.listdir(directory)
            except FileNotFoundError:
                continue
            for name in names:
                path = os.path.join(directory, name)
                if name.endswith(".partial"):
                    limit = STALE_PARTIAL_SECONDS
                elif name.startswith(".tmp-"):
                    limit = STALE_TEMP_SECONDS
                else:
                    continue
                try:
                    if now - os.lstat(path).st_mtime > limit:
                        os.unlink(path)
                        removed += 1
                except FileNotFoundError:
                    pass
        return removed

    def describe(self) -> str:
        return "store %s" % self.root
