# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP to one registry host: scheme and TLS, authentication, bounded retries, error mapping.

One ``RegistryTransport`` per host per run; clients of several repositories share it,
and with it the connection pool and the Authorization headers already earned.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time

from ..common.deps import note_missing, require
from ..common.errors import AuthenticationError, NotFoundError, RegistryError, TransientError
from ..common.jsonutil import load_json
from ..common.text import is_decimal
from .auth import Challenge, basic_header, fetch_bearer_token, parse_www_authenticate
from .deadline import Deadline, deadline_adapter
from .transfer_limits import TransferLimits
from .failures import host_and_port, request_failure
from .origin import OriginBoundSession, realm_may_get_password, same_origin

try:
    import requests
except ImportError as import_error:  # reported by common.deps when a registry is used
    note_missing("requests", import_error)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional, Tuple

USER_AGENT = "undock.oci/0.1"
DEFAULT_TIMEOUT = (15.0, 120.0)  # connect, read
RETRY_STATUSES = (429, 500, 502, 503, 504)


class RegistryTransport:
    """Requests to ``https://HOST/v2/...`` (or http for an insecure registry that has no TLS).

    ``tls`` has ``verify`` (bool or CA bundle path), ``cert`` (None or (cert, key)) and
    ``insecure`` (skip verification and allow plain HTTP). ``credentials`` has
    ``username`` and ``password`` or is None for anonymous access.
    """

    def __init__(self, host: str, tls: Any = None, credentials: Any = None, retries: int = 4,
                 backoff: float = 0.5, timeout: Tuple[float, float] = DEFAULT_TIMEOUT, pool_size: int = 8,
                 limits: Optional[TransferLimits] = None):
        require("requests")
        self.host = host
        self.insecure = bool(getattr(tls, "insecure", False))
        self.verify = False if self.insecure else getattr(tls, "verify", True)
        self.cert = getattr(tls, "cert", None)
        self.username = getattr(credentials, "username", None)
        self.password = getattr(credentials, "password", None)
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.limits = limits or TransferLimits()
        self.session = OriginBoundSession()
        self.session.verify = self.verify
        self.session.cert = self.cert
        self.session.headers["User-Agent"] = USER_AGENT
        adapter = deadline_adapter(pool_size)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        # Passed on every call: a session-level setting loses to $REQUESTS_CA_BUNDLE,
        # and a task's ca_cert must win over the environment.
        self._tls_args = {"verify": self.verify, "cert": self.cert}
        self._scheme: Optional[str] = None
        self._auth: Dict[Tuple[str, ...], str] = {}
        self._lock = threading.Lock()
        if self.insecure:
            import urllib3
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    # -- what is sent where ---------------------------------------------------------
    def own_origin(self, url: str) -> bool:
        """Whether ``url`` is on this registry's origin, the only one its credentials go to."""
        return same_origin(url, self.base_url)

    def _headers_for(self, url: str, headers: Optional[Dict[str, str]], scope_key: Tuple[str, ...]) -> Dict[str, str]:
        """The caller's headers, plus the Authorization earned for ``scope_key`` when ``url`` is
        on the registry's own origin: an upload Location, a tag-list Link or any other URL the
        registry names on another origin gets none."""
        request_headers = dict(headers or {})
        auth = self._auth.get(scope_key)
        if auth and self.own_origin(url):
            request_headers["Authorization"] = auth
        return request_headers

    def _realm_credentials(self, realm: str) -> Tuple[Optional[str], Optional[str]]:
        """The user and password to send to a token service, or (None, None) to ask anonymously."""
        if self.username is None or not realm_may_get_password(self.base_url, realm, self.insecure):
            return None, None
        return self.username, self.password

    # -- URLs -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._scheme is None:
            with self._lock:
                if self._scheme is None:
                    self._scheme = self._detect_scheme()
        return "%s://%s" % (self._scheme, self.host)

    def _detect_scheme(self) -> str:
        if not self.insecure:
            return "https"
        # Like containers/image, an insecure registry is tried over TLS (unverified) first.
        # A bare handshake is enough to tell, and costs a millisecond where a full
        # request through requests costs ~100 ms of trust-store loading.
        address = host_and_port(self.host, 443)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            with socket.create_connection(address, timeout=self.timeout[0]) as raw:
                with context.wrap_socket(raw, server_hostname=address[0]):
                    return "https"
        except (ssl.SSLError, OSError):
            return "http"

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + path

    # -- requests -------------------------------------------------------------------
    def deadline(self, what: str, size: Optional[int] = None) -> Deadline:
        """A started deadline for ``what``: request_timeout, plus ``size`` bytes at the minimum rate."""
        seconds = self.limits.request_seconds() if size is None else self.limits.blob_seconds(size)
        return Deadline(seconds, self.host, what, self.limits.explain(size))

    def request(self, method: str, path: str, scopes: Iterable[str] = (), headers: Optional[Dict[str, str]] = None,
                data: Any = None, stream: bool = False, ok: Iterable[int] = (200,),
                retry: bool = True, allow_redirects: bool = True, deadline: Optional[Deadline] = None) -> requests.Response:
        """Send a request, authenticating on 401 and retrying transient failures.

        ``data`` may be bytes or a zero-argument callable returning a fresh body (a file),
        so that a retry can send the body again. Any status outside ``ok`` raises.
        Every attempt, redirect and token request runs within ``deadline``; a caller that
        streams the body passes one and cancels it once the body is read. Without one, the
        request gets a request_timeout deadline of its own, over when this returns.
        """
        own = deadline is None
        if deadline is None:
            deadline = self.deadline("%s %s" % (method, path.split("?")[0]))
        try:
            with deadline.watching():
                return self._exchange(method, path, scopes, headers, data, stream, ok, retry, allow_redirects, deadline)
        except RegistryError:
            deadline.check()  # a token request or error body cut by the deadline says why
            raise
        finally:
            if own:
                deadline.cancel()

    def _exchange(self, method: str, path: str, scopes: Iterable[str], headers: Optional[Dict[str, str]], data: Any,
                  stream: bool, ok: Iterable[int], retry: bool, allow_redirects: bool,
                  deadline: Deadline) -> requests.Response:
        scope_key = tuple(sorted(set(scopes)))
        attempts = self.retries + 1 if retry else 1
        authenticated_retry = False
        attempt = 0
        while True:
            attempt += 1
            deadline.check()
            url = self.url(path)
            request_headers = self._headers_for(url, headers, scope_key)
            body = data() if callable(data) else data
            try:
                response = self.session.request(method, url, headers=request_headers, data=body,
                                                stream=stream, timeout=self.timeout,
                                                allow_redirects=allow_redirects, **self._tls_args)
            except requests.exceptions.RequestException as err:
                deadline.check()
                failure = request_failure(err, self.host, "%s %s" % (method, path.split("?")[0]))
                if isinstance(failure, TransientError) and attempt < attempts:
                    self.pause_before_retry(attempt, None)
                    continue
                raise failure
            finally:
                if hasattr(body, "close"):
                    body.close()
            if deadline.expired:  # a body cut by the deadline can look complete
                response.close()
                raise deadline.error()
            if response.status_code == 401 and not authenticated_retry and self.own_origin(response.url):
                authenticated_retry = True
                response.close()
                self._authenticate(response, list(scope_key))
                attempt -= 1
                continue
            if response.status_code in RETRY_STATUSES and attempt < attempts:
                retry_after = response.headers.get("Retry-After")
                response.close()
                self.pause_before_retry(attempt, retry_after)
                continue
            if response.status_code not in ok:
                raise self._error(method, path, response)
            return response

    def pause_before_retry(self, attempt: int, retry_after: Optional[str] = None) -> None:
        delay = self.backoff * (2 ** (attempt - 1))
        if retry_after and is_decimal(retry_after):
            delay = max(delay, float(retry_after))
        time.sleep(min(delay, 10.0))

    def _authenticate(self, response: requests.Response, scopes: List[str]) -> None:
        challenges = parse_www_authenticate(response.headers.get("WWW-Authenticate", ""))
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        if bearer is not None:
            username, password = self._realm_credentials(bearer.realm)
            try:
                token = fetch_bearer_token(self.session, bearer, scopes, username, password,
                                           self.host, self.timeout, tls_args=self._tls_args)
            except AuthenticationError as err:
                if username is None and self.username is not None:
                    raise AuthenticationError(
                        "%s; the credentials of user %r were not sent to the token service %s: it is plain "
                        "http on another host than the registry (it must be https, or the registry must be "
                        "reached over http on loopback or marked insecure)"
                        % (err, self.username, bearer.realm.split("?")[0]), status=err.status)
                raise
            header = "Bearer " + token
        elif basic is not None:
            if self.username is None:
                raise AuthenticationError("registry %s requires authentication; give username and password "
                                          "or an auth file with credentials for it" % self.host, status=401)
            header = basic_header(self.username, self.password or "")
        else:
            raise AuthenticationError("registry %s answered 401 without a usable challenge" % self.host, status=401)
        self._auth[tuple(sorted(set(scopes)))] = header

    def _error(self, method: str, path: str, response: requests.Response) -> RegistryError:
        status = response.status_code
        code, detail = _error_body(response)
        response.close()
        what = "%s %s" % (method, path.split("?")[0])
        message = "registry %s answered %d to %s" % (self.host, status, what)
        if code or detail:
            message += ": %s" % " ".join(x for x in (code, detail) if x)
        if status in (401, 403):
            who = "user %r" % self.username if self.username is not None else "anonymous access"
            return AuthenticationError("%s (%s was refused; check the credentials and their permissions)"
                                       % (message, who), status=status, code=code)
        if status == 404:
            return NotFoundError(message, status=status, code=code)
        if status in RETRY_STATUSES:
            return TransientError(message, status=status, code=code)
        return RegistryError(message, status=status, code=code)


MAX_ERROR_BODY = 65536


def _error_body(response: requests.Response) -> Tuple[Optional[str], Optional[str]]:
    """The first distribution-spec error code and message, if the body has one."""
    try:
        raw = next(response.iter_content(MAX_ERROR_BODY), b"")
    except (requests.exceptions.RequestException, OSError):
        return None, None  # a body that is cut or undecodable says nothing
    try:
        errors = load_json(raw, "error body", error=RegistryError, expect=dict).get("errors") or []
    except RegistryError:  # not JSON, or not the expected shape
        return None, None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None, None
    first = errors[0]
    return _text(first.get("code")), _text(first.get("message"))


def _text(value: Any) -> Optional[str]:
    """A field of an error body as a short string, whatever JSON type the registry used."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= 400 else text[:400] + "..."


__all__ = ["RegistryTransport", "Challenge"]
