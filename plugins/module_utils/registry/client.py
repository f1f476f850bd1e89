# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The distribution-spec API of one repository: manifests, blobs, uploads, tags."""

from __future__ import annotations

from urllib.parse import urlencode, urljoin

from ..model.digest import validate_digest
from ..common.errors import ManifestError, NotFoundError, RegistryError, TransientError
from ..common.jsonutil import load_json
from .auth import repository_scope
from .deadline import Deadline
from .failures import check_identity_encoding, content_length, describe_cause
from ..model.manifest import ACCEPT_MANIFEST_TYPES, MAX_MANIFEST_SIZE, Manifest, check_manifest, parse_manifest
from ..model.pending import PendingChecks
from .transport import RegistryTransport

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Callable, Dict, List, Optional, Tuple
    import requests

ACCEPT = ", ".join(ACCEPT_MANIFEST_TYPES)
CHUNK = 1024 * 1024
MAX_TAG_LIST = 16 * 1024 * 1024
# Manifests and blobs are read as stored: their digests are of those bytes, and a proxy
# that honours the header cannot recode them (requests asks for gzip by default).
AS_STORED = {"Accept-Encoding": "identity"}


class CutShortError(TransientError):
    """An answer whose body ended or broke before its Content-Length."""


class BlobStream:
    """A blob download as a file-like ``read``; a cut connection raises TransientError, a
    download that outlives its deadline DeadlineError (not retried: it would only be slow again)."""

    def __init__(self, response: requests.Response, expected_length: Optional[int], deadline: Deadline):
        self._response = response
        self._raw = response.raw
        self._expected = expected_length
        self._deadline = deadline
        self.received = 0

    def read(self, size: int = CHUNK) -> bytes:
        host = self._deadline.host
        try:
            chunk = self._raw.read(size, decode_content=False)
        except Exception as err:  # urllib3 ProtocolError, ReadTimeoutError, ConnectionError...
            self._deadline.check()
            raise TransientError("registry %s: blob download interrupted after %d bytes: %s"
                                 % (host, self.received, describe_cause(err, host)))
        self._deadline.check()
        if not chunk:
            self._deadline.cancel()
            if self._expected is not None and self.received < self._expected:
                raise TransientError("registry %s: blob download ended after %d of %d bytes"
                                     % (host, self.received, self._expected))
        self.received += len(chunk)
        return chunk

    def close(self) -> None:
        self._deadline.cancel()
        self._response.close()


class RegistryClient:
    """One repository on one registry."""

    def __init__(self, transport: RegistryTransport, repository: str, push: bool = False):
        self.transport = transport
        self.repository = repository
        self.scopes = [repository_scope(repository, "pull,push" if push else "pull")]

    def _path(self, kind: str, tail: str = "") -> str:
        return "/v2/%s/%s/%s" % (self.repository, kind, tail)

    # -- manifests ------------------------------------------------------------------
    def get_manifest(self, reference: str, checks: Optional[PendingChecks] = None) -> Manifest:
        """Fetch and verify a manifest by tag or digest; one cut short is fetched again, like blobs.
        Its schema check runs now, or is added to ``checks`` (a copy runs it later: model.pending)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                raw, response = self._fetch_manifest(reference)
                break
            except CutShortError:  # the request itself already retried what failed before the body
                if attempt > self.transport.retries:
                    raise
                self.transport.pause_before_retry(attempt)
        expected = reference if reference.startswith(("sha256:", "sha512:")) else None
        origin = "%s/%s" % (self.transport.host, self.repository)
        manifest = parse_manifest(raw, response.headers.get("Content-Type"), expected, origin=origin,
                                  validate=checks is None)
        if checks is not None:
            checks.add(lambda: check_manifest(manifest, origin))
        served = response.headers.get("Docker-Content-Digest")
        if expected is None and served and served.startswith("sha256:") and served != manifest.digest:
            raise ManifestError("manifest %s:%s hashes to %s but the registry says %s"
                                % (self.repository, reference, manifest.digest, served))
        return manifest

    def _fetch_manifest(self, reference: str) -> Tuple[bytes, requests.Response]:
        """The body of one manifest GET (bounded by a deadline and MAX_MANIFEST_SIZE) and its answer."""
        path = self._path("manifests", reference)
        what = "GET %s" % path
        deadline = self.transport.deadline(what)
        try:
            response = self.transport.request("GET", path, self.scopes, headers=dict(AS_STORED, Accept=ACCEPT),
                                              stream=True, deadline=deadline)
            try:
                check_identity_encoding(response.headers, self.transport.host, what)
                length = content_length(response.headers, self.transport.host, what)
                if length is not None and length > MAX_MANIFEST_SIZE:
                    raise ManifestError("manifest %s:%s is %d bytes, more than the %d allowed"
                                        % (self.repository, reference, length, MAX_MANIFEST_SIZE))
                try:
                    raw = response.raw.read(MAX_MANIFEST_SIZE + 1, decode_content=False)
                except Exception as err:  # urllib3 ProtocolError, ReadTimeoutError...
                    deadline.check()
                    raise CutShortError("registry %s: manifest %s:%s was cut short: %s" % (
                        self.transport.host, self.repository, reference, describe_cause(err, self.transport.host)))
                deadline.check()
            finally:
                response.close()
        finally:
            deadline.cancel()
        if length is not None and len(raw) < length:
            raise CutShortError("registry %s: manifest %s:%s was cut short after %d of %d bytes"
                                % (self.transport.host, self.repository, reference, len(raw), length))
        if len(raw) > MAX_MANIFEST_SIZE:
            raise ManifestError("manifest %s:%s is larger than %d bytes"
                                % (self.repository, reference, MAX_MANIFEST_SIZE))
        return raw, response

    def head_manifest(self, reference: str) -> Optional[Dict[str, Any]]:
        """The descriptor the registry has for ``reference``, or None if it has none."""
        try:
            response = self.transport.request("HEAD", self._path("manifests", reference), self.scopes,
                                              headers={"Accept": ACCEPT})
        except NotFoundError:
            return None
        response.close()
        digest = response.headers.get("Docker-Content-Digest")
        if not digest:
            return None
        validate_digest(digest)
        size = content_length(response.headers, self.transport.host, "HEAD manifest %s" % reference)
        return {"mediaType": response.headers.get("Content-Type", "").split(";")[0], "digest": digest,
                "size": -1 if size is None else size}

    def put_manifest(self, reference: str, manifest: Manifest) -> str:
        response = self.transport.request("PUT", self._path("manifests", reference), self.scopes,
                                          headers={"Content-Type": manifest.media_type}, data=manifest.raw,
                                          ok=(200, 201, 202))
        response.close()
        served = response.headers.get("Docker-Content-Digest")
        if served and served != manifest.digest:
            raise RegistryError("registry %s stored manifest %s as %s" % (self.transport.host, manifest.digest, served))
        return manifest.digest

    def delete_manifest(self, digest: str) -> None:
        validate_digest(digest)
        self.transport.request("DELETE", self._path("manifests", digest), self.scopes, ok=(200, 202)).close()

    def list_tags(self) -> List[str]:
        tags: List[str] = []
        path = "/v2/%s/tags/list" % self.repository
        for dummy in range(1000):  # pages; docker-registry 2.8 sends one
            response = self.transport.request("GET", path, self.scopes)
            body = load_json(response.content[:MAX_TAG_LIST], "the tag list of %s on %s" % (
                self.repository, self.transport.host), error=RegistryError, expect=dict)
            page = body.get("tags") or []
            if not isinstance(page, list) or not all(isinstance(tag, str) for tag in page):
                raise RegistryError("registry %s sent a tag list for %s whose tags are not a list of strings"
                                    % (self.transport.host, self.repository))
            tags.extend(page)
            link = response.headers.get("Link", "")
            if 'rel="next"' not in link:
                break
            path = link.split(";")[0].strip().strip("<>")
        return tags

    # -- blobs ----------------------------------------------------------------------
    def blob_size(self, digest: str) -> Optional[int]:
        """Size of the blob if the repository has it, else None."""
        try:
            response = self.transport.request("HEAD", self._path("blobs", validate_digest(digest)), self.scopes)
        except NotFoundError:
            return None
        response.close()
        size = content_length(response.headers, self.transport.host, "HEAD blob %s" % digest)
        return size or 0

    def open_blob(self, digest: str, offset: int = 0, size: Optional[int] = None) -> Tuple[BlobStream, int]:
        """Stream a blob from ``offset``; returns the stream and where it really starts."""
        path = self._path("blobs", validate_digest(digest))
        headers = dict(AS_STORED, Range="bytes=%d-" % offset) if offset else dict(AS_STORED)
        declared = size - offset if size is not None and size >= offset else None
        deadline = self.transport.deadline("GET %s" % path, declared or 0)
        try:
            response = self.transport.request("GET", path, self.scopes, headers=headers, stream=True, ok=(200, 206),
                                              deadline=deadline)
        except BaseException:
            deadline.cancel()
            raise
        try:
            check_identity_encoding(response.headers, self.transport.host, "GET %s" % path)
            length = content_length(response.headers, self.transport.host, "GET %s" % path)
        except BaseException:
            deadline.cancel()
            response.close()
            raise
        start = offset if response.status_code == 206 else 0
        if length is not None:
            expected: Optional[int] = length
        elif size is not None and size >= 0:
            expected = size - start
        else:
            expected = None
        return BlobStream(response, expected, deadline), start

    def blob_opener(self, desc: Dict[str, Any]) -> Callable[[int], Tuple[BinaryIO, int]]:
        return lambda offset: self.open_blob(desc["digest"], offset, desc.get("size"))  # type: ignore[return-value]

    def read_blob(self, digest: str, limit: int = 64 * 1024 * 1024) -> bytes:
        """A small blob (config) in memory, verified by the caller."""
        stream, dummy = self.open_blob(digest)
        try:
            data = bytearray()
            while len(data) <= limit:
                chunk = stream.read(CHUNK)
                if not chunk:
                    return bytes(data)
                data.extend(chunk)
        finally:
            stream.close()
        raise RegistryError("blob %s is larger than %d bytes" % (digest, limit))

    # -- uploads --------------------------------------------------------------------
    def mount_blob(self, digest: str, from_repository: str) -> bool:
        """Cross-repository mount; True if the registry linked the blob without an upload."""
        query = urlencode({"mount": validate_digest(digest), "from": from_repository})
        scopes = self.scopes + [repository_scope(from_repository, "pull")]
        response = self.transport.request("POST", self._path("blobs", "uploads/") + "?" + query, scopes,
                                          ok=(201, 202))
        response.close()
        if response.status_code == 201:
            return True
        self._cancel(response)
        return False

    def upload_blob(self, desc: Dict[str, Any], open_file: Callable[[], BinaryIO],
                    chunk_size: Optional[int] = None) -> None:
        """Upload a blob, monolithic by default or in ``chunk_size`` PATCHes, then commit by digest."""
        digest, size = validate_digest(desc["digest"]), desc["size"]
        response = self.transport.request("POST", self._path("blobs", "uploads/"), self.scopes, ok=(202,))
        response.close()
        location = self._location(response)
        if chunk_size:
            location = self._upload_chunks(location, open_file, size, chunk_size)
            body: Any = b""
        else:
            body = open_file
        response = self.transport.request(
            "PUT", _with_query(location, {"digest": digest}), self.scopes, data=body,
            headers={"Content-Type": "application/octet-stream",
                     "Content-Length": "0" if chunk_size else str(size)},
            ok=(201, 204), retry=False)
        response.close()

    def _upload_chunks(self, location: str, open_file: Callable[[], BinaryIO], size: int, chunk_size: int) -> str:
        with open_file() as handle:
            offset = 0
            while offset < size:
                chunk = handle.read(chunk_size)
                if not chunk:
                    break
                end = offset + len(chunk) - 1
                response = self.transport.request(
                    "PATCH", location, self.scopes, data=chunk, retry=False, ok=(202,),
                    headers={"Content-Type": "application/octet-stream", "Content-Range": "%d-%d" % (offset, end),
                             "Content-Length": str(len(chunk))})
                response.close()
                location = self._location(response)
                offset = end + 1
        return location

    def _location(self, response: requests.Response) -> str:
        location = response.headers.get("Location")
        if not location:
            raise RegistryError("registry %s started an upload without a Location" % self.transport.host)
        return _http_url(urljoin(self.transport.base_url + "/", location), self.transport.host)

    def _cancel(self, response: requests.Response) -> None:
        try:
            self.transport.request("DELETE", self._location(response), self.scopes, ok=(200, 202, 204, 404),
                                   retry=False).close()
        except RegistryError:
            pass


def _http_url(url: str, host: str) -> str:
    """An upload Location must be an http(s) URL: anything else would be sent to as a path."""
    if not url.lower().startswith(("http://", "https://")):
        raise RegistryError("registry %s sent an upload Location that is not an http(s) URL: %s" % (host, url[:200]))
    return url


def _with_query(url: str, params: Dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)
