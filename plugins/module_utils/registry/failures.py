# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a failed exchange with a registry tells the user: one UndockError per cause, naming
the host and saying what to do. The text of requests and urllib3 exceptions
("HTTPConnectionPool(host=...): Max retries exceeded ...") is never shown: the cause is
found in the exception chain and described in our own words."""

from __future__ import annotations

import http.client
import re
import socket
import ssl

from ..common.errors import RegistryError, TLSError, TransientError
from ..common.text import is_decimal

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Iterator, List, Optional, Tuple

_HOPS = 24  # bound on the walk through an exception's causes


def causes(err: BaseException) -> Iterator[BaseException]:
    """``err`` and everything it wraps: ``__cause__``, ``__context__``, urllib3's ``reason``,
    and exceptions passed as arguments (requests wraps urllib3 errors that way)."""
    seen: List[int] = []
    queue: List[BaseException] = [err]
    while queue and len(seen) < _HOPS:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.append(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
        queue.extend(e for e in linked if isinstance(e, BaseException))


def _find(err: BaseException, kind: Any) -> Optional[BaseException]:
    return next((e for e in causes(err) if isinstance(e, kind)), None)


def host_and_port(host: str, default_port: int) -> Tuple[str, int]:
    """``("::1", 5000)`` for ``[::1]:5000``, ``("example.com", default)`` for ``example.com``."""
    if host.startswith("["):
        name, dummy, rest = host[1:].partition("]")
        port = rest[1:]
    else:
        name, dummy, port = host.partition(":")
    return name, int(port) if is_decimal(port) else default_port


def describe_cause(err: BaseException, host: str) -> str:
    """A short phrase for why a connection to ``host`` failed or broke."""
    name, port = host_and_port(host, 0)
    dns = _find(err, socket.gaierror)
    if dns is not None:
        return "the name %s does not resolve (DNS lookup failed)" % name
    if _find(err, ConnectionRefusedError) is not None:
        where = "on port %d " % port if port else ""
        return "connection refused: nothing listens %s(is the registry running, and is the port right?)" % where
    if _find(err, http.client.RemoteDisconnected) is not None:
        return "the registry closed the connection without answering"
    if _find(err, ConnectionResetError) is not None:
        return "the connection was reset"
    if _find(err, http.client.IncompleteRead) is not None:
        return "the answer was cut short"
    if _find(err, (socket.timeout, TimeoutError)) is not None or "timed out" in str(err).lower():
        return "it timed out"
    oserror = next((e for e in causes(err) if type(e) in _PLAIN_OS_ERRORS and getattr(e, "strerror", None)), None)
    if oserror is not None:
        return str(oserror.strerror).lower()
    return "the connection failed (%s)" % type(err).__name__


_PLAIN_OS_ERRORS = (OSError, ConnectionAbortedError, BrokenPipeError, InterruptedError, PermissionError)


def is_permanent_dns_failure(err: BaseException) -> bool:
    """A name that does not exist (not a resolver that is down for now)."""
    dns = _find(err, socket.gaierror)
    return dns is not None and getattr(dns, "errno", None) in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None))


def tls_failure(err: BaseException, host: str) -> TLSError:
    """A TLS handshake or verification failure, with the option that fixes it."""
    ssl_error = _find(err, ssl.SSLError)
    reason = (getattr(ssl_error, "verify_message", None) or getattr(ssl_error, "reason", None)
              or (ssl_error.__class__.__name__ if ssl_error is not None else "handshake failed"))
    text = str(ssl_error or err)
    if isinstance(ssl_error, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return TLSError("TLS error talking to registry %s: certificate verify failed: %s; the registry's certificate "
                        "is not trusted: give ca_cert, put the CA in /etc/containers/certs.d/%s/ca.crt, or set "
                        "validate_certs: false" % (host, reason, host))
    if _looks_like_plain_http(text):
        return TLSError("registry %s does not speak TLS on this port (it answered like a plain-HTTP server); if it "
                        "is meant to be plain HTTP, set validate_certs: false on the task or mark it insecure = true "
                        "in registries.conf ([[registry]] location = \"%s\")" % (host, host))
    return TLSError("TLS error talking to registry %s: %s" % (host, str(reason).lower().replace("_", " ")))


def _looks_like_plain_http(text: str) -> bool:
    # OpenSSL's words for a TLS record that is really "HTTP/1.1 400 Bad Request".
    return any(mark in text for mark in ("WRONG_VERSION_NUMBER", "wrong version number", "record layer failure",
                                         "RECORD_LAYER_FAILURE", "packet length too long", "http request"))


def request_failure(err: Exception, host: str, what: str) -> RegistryError:
    """The UndockError for an exception of requests while sending ``what`` to ``host``."""
    import requests  # local: this module is imported only once requests is known to exist
    exceptions = requests.exceptions
    if isinstance(err, exceptions.SSLError):
        return tls_failure(err, host)
    if isinstance(err, exceptions.TooManyRedirects):
        return RegistryError("registry %s redirected %s too many times (a redirect loop?)" % (host, what))
    if isinstance(err, (exceptions.InvalidSchema, exceptions.MissingSchema, exceptions.InvalidURL)):
        return RegistryError("registry %s sent a Location for %s that is not an http(s) URL%s"
                             % (host, what, _quoted_url(err)))
    if isinstance(err, exceptions.ConnectTimeout):
        return TransientError("cannot reach registry %s: no connection within the connect timeout" % host)
    if isinstance(err, exceptions.ReadTimeout):
        return TransientError("registry %s did not answer %s within the read timeout" % (host, what))
    if isinstance(err, exceptions.ContentDecodingError):
        return RegistryError("registry %s answered %s with a Content-Encoding that does not decode" % (host, what))
    if isinstance(err, exceptions.ChunkedEncodingError):
        return TransientError("registry %s cut the answer to %s short: %s" % (host, what, describe_cause(err, host)))
    if isinstance(err, exceptions.ConnectionError):
        if is_permanent_dns_failure(err):
            return RegistryError("cannot reach registry %s: %s" % (host, describe_cause(err, host)))
        return TransientError("cannot reach registry %s: %s" % (host, describe_cause(err, host)))
    return RegistryError("request %s to registry %s failed: %s" % (what, host, describe_cause(err, host)))


def _quoted_url(err: Exception) -> str:
    match = re.search(r"'([^']{1,200})'", str(err))
    return ": %s" % match.group(1) if match else ""


def content_length(headers: Any, host: str, what: str) -> Optional[int]:
    """The ``Content-Length`` of an answer, None when absent; anything but digits is an error."""
    value = headers.get("Content-Length")
    if value is None or value == "":
        return None
    value = value.strip()
    if not is_decimal(value) or len(value) > 19:
        raise RegistryError("registry %s answered %s with Content-Length %r, which is not a number"
                            % (host, what, value[:40]))
    return int(value)


def check_identity_encoding(headers: Any, host: str, what: str) -> None:
    """Blobs are asked for with ``Accept-Encoding: identity``: a coded body would not hash to its digest."""
    encoding = (headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding != "identity":
        raise RegistryError("registry %s answered %s with Content-Encoding %r although identity was asked; a proxy "
                            "between here and the registry recodes blobs" % (host, what, encoding[:40]))
