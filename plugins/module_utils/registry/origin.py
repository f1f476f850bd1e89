# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which origin (scheme, host, port) a URL belongs to, and the rules that keep a registry's
credentials on its own origin.

Every request of the client goes through these rules: the Authorization header a transport
earned is sent only to the registry's origin (upload Locations, tag-list Links and redirects
that point elsewhere get none), a redirect to another origin drops it, and a token service on
another origin gets the user's password only over https (or over http when the registry
itself is reached over http, on loopback or marked insecure). docs/configuration.md says the
same for users.
"""

from __future__ import annotations

import ipaddress
from collections import namedtuple
from urllib.parse import urlsplit

try:
    from requests import Session as _Session
except ImportError:  # the transport's require("requests") reports it
    _Session = object  # type: ignore[assignment,misc]

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PORTS = {"http": 80, "https": 443}


class Origin(namedtuple("Origin", "scheme host port")):
    """scheme, host (str), port (int)."""

    __slots__ = ()


def origin_of(url: str) -> Origin:
    """The origin of an absolute URL; a URL that cannot be parsed gets an origin nothing equals."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port if parts.port is not None else DEFAULT_PORTS.get(scheme, -1)
        return Origin(scheme, (parts.hostname or "").lower(), port)
    except ValueError:  # a port that is not a number, a bad IPv6 literal
        return Origin("", "\0" + url, -1)


def same_origin(url: str, other: str) -> bool:
    first = origin_of(url)
    return bool(first.host) and first.port >= 0 and first == origin_of(other)


def is_loopback(host: str) -> bool:
    """``localhost``, ``127.0.0.0/8`` or ``::1`` (host without port or brackets)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def realm_may_get_password(registry_url: str, realm: str, registry_insecure: bool) -> bool:
    """Whether the user's credentials may be sent (as Basic) to the token service ``realm``.

    Its own origin already sees them. Another origin sees them over https; over plain http
    only when the registry itself is reached over http and is on loopback or marked insecure
    (the user has then accepted plain http for this registry's traffic).
    """
    if same_origin(realm, registry_url):
        return True
    realm_scheme = origin_of(realm).scheme
    if realm_scheme == "https":
        return True
    registry = origin_of(registry_url)
    return realm_scheme == "http" and registry.scheme == "http" and (
        registry_insecure or is_loopback(registry.host))


def _as_given(request: Any) -> Any:
    return request


class OriginBoundSession(_Session):  # type: ignore[misc,valid-type]
    """A requests Session whose redirects keep Authorization only within one origin.

    requests keeps it across a scheme change on default ports and adds ~/.netrc credentials
    to requests and redirects; here a redirect to any other (scheme, host, port) drops the
    header, and nothing is ever added: the transport alone decides what is sent.
    """

    def __init__(self) -> None:
        super().__init__()
        self.auth = _as_given  # a session auth stops requests from looking in ~/.netrc

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        headers = prepared_request.headers
        if "Authorization" in headers and not same_origin(prepared_request.url, response.request.url):
            del headers["Authorization"]
