# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Image references, parsed and normalised the way docker/distribution does it.

``busybox`` -> ``docker.io/library/busybox:latest``;
``localhost:5000/a/b@sha256:...`` keeps its host, port and digest.
A name without a registry is a *short name*: ``Reference.short_name`` is true and
``registry/config.py`` resolves it through ``unqualified-search-registries``.
"""

from __future__ import annotations

import re
from collections import namedtuple

from .digest import InvalidDigestError, parse_digest
from ..common.errors import InvalidReferenceError
from .transport_names import DOCKER, FILE_TRANSPORTS

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Optional

DEFAULT_REGISTRY = "docker.io"
LEGACY_DEFAULT_REGISTRY = "index.docker.io"
OFFICIAL_NAMESPACE = "library"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = r"(?:%s(?:\.%s)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?" % (_DOMAIN_COMPONENT, _DOMAIN_COMPONENT)
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
_DOMAIN_RE = re.compile(_DOMAIN)
_PATH_RE = re.compile(r"%s(?:/%s)*" % (_PATH_COMPONENT, _PATH_COMPONENT))
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
_ANCHORED_ID_RE = re.compile(r"[a-f0-9]{64}")
# Never image names: "dir:" too, where "tarball:1" and the like may well be images.
_NOT_REGISTRY_NAMES = FILE_TRANSPORTS + ("dir",)


class Reference(namedtuple("Reference", "registry repository tag digest short_name", defaults=(None, None, False))):
    """A normalised reference. ``tag`` and ``digest`` may both be set (``name:tag@digest``).

    registry, repository (str); tag, digest (Optional[str]); short_name (bool).
    """

    __slots__ = ()

    @property
    def name(self) -> str:
        """``registry/repository``, without tag or digest."""
        return "%s/%s" % (self.registry, self.repository)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += ":" + self.tag
        if self.digest:
            text += "@" + self.digest
        return text

    def familiar(self) -> str:
        """The short form users type: ``busybox:latest`` for ``docker.io/library/busybox:latest``."""
        text = str(self)
        prefix = "%s/%s/" % (DEFAULT_REGISTRY, OFFICIAL_NAMESPACE)
        if text.startswith(prefix):
            return text[len(prefix):]
        if text.startswith(DEFAULT_REGISTRY + "/"):
            return text[len(DEFAULT_REGISTRY) + 1:]
        return text

    def with_tag(self, tag: Optional[str]) -> "Reference":
        return self._replace(tag=tag)

    def with_digest(self, digest: Optional[str]) -> "Reference":
        return self._replace(digest=digest)

    def in_registry(self, registry: str, repository: Optional[str] = None) -> "Reference":
        """The same image named in another registry (mirrors, search registries, prefix rewrites)."""
        return self._replace(registry=registry, repository=repository or self.repository, short_name=False)

    @property
    def manifest_reference(self) -> str:
        """What goes after ``/manifests/`` in a registry URL: the digest if pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG


def _split_domain(name: str) -> tuple[str, str, bool]:
    """Return ``(domain, remainder, short)`` as distribution's splitDockerDomain does."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first
                or first.startswith("[")):
        domain, remainder, short = first, rest, False
    else:
        domain, remainder, short = DEFAULT_REGISTRY, name, True
    if domain == LEGACY_DEFAULT_REGISTRY:
        domain = DEFAULT_REGISTRY
    if domain == DEFAULT_REGISTRY and "/" not in remainder:
        remainder = "%s/%s" % (OFFICIAL_NAMESPACE, remainder)
    return domain, remainder, short


def parse_reference(text: str, default_tag: Optional[str] = DEFAULT_TAG) -> Reference:
    """Parse and normalise ``text``. A reference with neither tag nor digest gets ``default_tag``.

    Raises InvalidReferenceError with the reason for anything distribution would refuse.
    """
    if not isinstance(text, str) or not text:
        raise InvalidReferenceError("invalid reference %r: empty" % (text,))
    if text != text.strip() or any(c.isspace() for c in text):
        raise InvalidReferenceError("invalid reference %r: contains white space" % (text,))
    transport, colon, dummy = text.partition(":")
    if text.startswith(DOCKER + "://"):
        text = text[len(DOCKER + "://"):]
    elif colon and transport in _NOT_REGISTRY_NAMES:
        raise InvalidReferenceError(
            "invalid reference %r: the %s transport is not a registry reference" % (text, transport))

    remainder, digest = text, None
    if "@" in remainder:
        remainder, dummy, digest = remainder.partition("@")
        try:
            parse_digest(digest)
        except InvalidDigestError as err:
            raise InvalidReferenceError("invalid reference %r: %s" % (text, err))

    tag = None
    last_slash = remainder.rfind("/")
    colon = remainder.rfind(":")
    if colon > last_slash:
        remainder, tag = remainder[:colon], remainder[colon + 1:]
        if not _TAG_RE.fullmatch(tag):
            raise InvalidReferenceError(
                "invalid reference %r: invalid tag %r (letters, digits, '_', '.', '-', at most 128, "
                "not starting with '.' or '-')" % (text, tag))

    if not remainder:
        raise InvalidReferenceError("invalid reference %r: no repository name" % (text,))
    if _ANCHORED_ID_RE.fullmatch(remainder):
        raise InvalidReferenceError(
            "invalid reference %r: a 64-character hexadecimal string is an image ID, not a name" % (text,))

    domain, path, short = _split_domain(remainder)
    if not _DOMAIN_RE.fullmatch(domain):
        raise InvalidReferenceError("invalid reference %r: invalid registry host %r" % (text, domain))
    if path.lower() != path:
        raise InvalidReferenceError("invalid reference %r: repository name must be lowercase" % (text,))
    if not _PATH_RE.fullmatch(path):
        raise InvalidReferenceError(
            "invalid reference %r: invalid repository name %r (lowercase letters, digits and "
            "separators '.', '_', '__', '-' between them, components joined by '/')" % (text, path))
    if len(domain) + 1 + len(path) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidReferenceError(
            "invalid reference %r: name longer than %d characters" % (text, NAME_TOTAL_LENGTH_MAX))

    if tag is None and digest is None:
        tag = default_tag
    return Reference(registry=domain, repository=path, tag=tag, digest=digest, short_name=short)


def short_name_path(ref: Reference) -> str:
    """The path a short name asks for, as typed: ``busybox`` (not ``library/busybox``).

    Search registries other than docker.io must not get the ``library/`` prefix.
    """
    prefix = OFFICIAL_NAMESPACE + "/"
    if ref.short_name and ref.repository.startswith(prefix) and "/" not in ref.repository[len(prefix):]:
        return ref.repository[len(prefix):]
    return ref.repository
