# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Content digests: validation before any path is built, and streaming hashing."""

from __future__ import annotations

import re
import sys

from ..common.errors import DigestMismatchError, UndockError

# Only the algorithms the image-spec registers. Anything else is refused before it
# can reach a file name (CVE-2024-3727: unvalidated digests used as paths). hashlib is
# imported where content is hashed: its OpenSSL start-up costs a process ~5 ms.
_ALGORITHMS = {
    "sha256": re.compile(r"[a-f0-9]{64}"),
    "sha512": re.compile(r"[a-f0-9]{128}"),
}


class InvalidDigestError(UndockError):
    """A digest string is not ``algorithm:hex`` of a supported algorithm."""


def parse_digest(digest: str) -> tuple[str, str]:
    """Return ``(algorithm, hex)`` of a valid digest, or raise InvalidDigestError."""
    if not isinstance(digest, str) or ":" not in digest:
        raise InvalidDigestError("invalid digest %r: expected algorithm:hex" % (digest,))
    algorithm, dummy, hexpart = digest.partition(":")
    pattern = _ALGORITHMS.get(algorithm)
    if pattern is None:
        raise InvalidDigestError("invalid digest %r: unsupported algorithm %r" % (digest, algorithm))
    if not pattern.fullmatch(hexpart):
        raise InvalidDigestError("invalid digest %r: bad %s encoding" % (digest, algorithm))
    return algorithm, hexpart


def validate_digest(digest: str) -> str:
    parse_digest(digest)
    return digest


def is_digest(value: str) -> bool:
    try:
        parse_digest(value)
    except InvalidDigestError:
        return False
    return True


def sha256_digest(data: bytes) -> str:
    import hashlib  # OpenSSL's sha256: much faster than name_digest's on content of any size
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _builtin_sha256():
    """CPython's own sha256 constructor (no OpenSSL), or None in a build without it."""
    try:
        if sys.version_info >= (3, 12):
            from _sha2 import sha256
        else:
            from _sha256 import sha256
    except ImportError:
        return None
    return sha256


def name_digest(data: bytes) -> str:
    """The sha256 hex of a short byte string that names something (a cgroup, a record file, a
    layer's short link...): the same hex as hashlib's, without importing hashlib, whose OpenSSL
    start-up (~5 ms) a container start would pay for a few names (CPython's built-in sha256
    loads in ~0.5 ms and is slower only on large data, which content digests are for)."""
    sha256 = _builtin_sha256()
    if sha256 is None:
        import hashlib
        sha256 = hashlib.sha256
    return sha256(data).hexdigest()


#: Content up to this size is hashed with the built-in sha256 when it is hashed whole
#: (verify_bytes): ~1 ms at most, less than importing hashlib, which a start from a stored
#: image would otherwise do only to check its manifest and config (a few KB).
SMALL_CONTENT = 256 * 1024


class Digester:
    """Hashes a stream incrementally with the algorithm of ``expected`` (sha256 by default);
    ``small``: the caller knows the stream is at most SMALL_CONTENT bytes."""

    def __init__(self, expected: str | None = None, small: bool = False):
        algorithm = parse_digest(expected)[0] if expected else "sha256"
        self.algorithm = algorithm
        self.expected = expected
        sha256 = _builtin_sha256() if small and algorithm == "sha256" else None
        if sha256 is None:
            import hashlib
            self._hash = getattr(hashlib, algorithm)()
        else:
            self._hash = sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def digest(self) -> str:
        return "%s:%s" % (self.algorithm, self._hash.hexdigest())

    def verify(self, what: str = "content", expected_size: int | None = None) -> str:
        """Raise DigestMismatchError unless the stream matched ``expected`` (and its size)."""
        actual = self.digest()
        if expected_size is not None and expected_size >= 0 and self.size != expected_size:
            raise DigestMismatchError(
                "%s: size %d does not match the expected %d" % (what, self.size, expected_size))
        if self.expected and actual != self.expected:
            raise DigestMismatchError(
                "%s: digest %s does not match the expected %s" % (what, actual, self.expected))
        return actual


def verify_bytes(data: bytes, expected: str, what: str = "content") -> None:
    digester = Digester(expected, small=len(data) <= SMALL_CONTENT)
    digester.update(data)
    digester.verify(what)
