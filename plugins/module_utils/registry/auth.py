# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Registry authentication: the WWW-Authenticate challenge, Basic, and the Bearer token flow.

Tokens are cached per (realm, service, scopes, user) for the life of the process and
reused until they expire. Nothing here ever puts a password or token into a message.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections import namedtuple

from ..common.errors import AuthenticationError, RegistryError, TransientError
from ..common.jsonutil import load_json
from .failures import describe_cause, tls_failure

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


class Challenge(namedtuple("Challenge", "scheme params")):
    """scheme (str), "basic" or "bearer", lower case; params (Dict[str, str])."""

    __slots__ = ()

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def parse_www_authenticate(header: str) -> List[Challenge]:
    """Parse ``Bearer realm="...",service="...",scope="..."`` (and Basic) challenges."""
    challenges: List[Challenge] = []
    text = (header or "").strip()
    while text:
        match = re.match(r"([A-Za-z]+)\s*", text)
        if not match:
            break
        scheme = match.group(1).lower()
        text = text[match.end():]
        params: Dict[str, str] = {}
        while text:
            param = _PARAM_RE.match(text)
            if not param or re.match(r"[A-Za-z]+\s+[A-Za-z0-9_.-]+\s*=", text):
                break
            value = param.group(2) if param.group(2) is not None else param.group(3)
            params[param.group(1).lower()] = re.sub(r"\\(.)", r"\1", value or "")
            text = text[param.end():]
        challenges.append(Challenge(scheme, params))
        text = text.lstrip(", ")
    return challenges


def basic_header(username: str, password: str) -> str:
    token = base64.b64encode(("%s:%s" % (username, password)).encode("utf-8")).decode("ascii")
    return "Basic " + token


def repository_scope(repository: str, actions: str = "pull") -> str:
    return "repository:%s:%s" % (repository, actions)


class TokenCache:
    """Bearer tokens shared by every client of one process, keyed by what they grant."""

    def __init__(self) -> None:
        self._tokens: Dict[Tuple[str, str, Tuple[str, ...], str], Tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.fetches = 0

    def get(self, key: Tuple[str, str, Tuple[str, ...], str]) -> Optional[str]:
        with self._lock:
            entry = self._tokens.get(key)
        if entry and entry[1] > time.time() + 5:
            return entry[0]
        return None

    def put(self, key: Tuple[str, str, Tuple[str, ...], str], token: str, expires_in: float) -> None:
        with self._lock:
            self._tokens[key] = (token, time.time() + expires_in)
            self.fetches += 1


TOKENS = TokenCache()


def fetch_bearer_token(session: Any, challenge: Challenge, scopes: List[str], username: Optional[str],
                       password: Optional[str], host: str, timeout: Any,
                       cache: TokenCache = TOKENS, tls_args: Optional[Dict[str, Any]] = None) -> str:
    """Get a token for ``scopes`` from the challenge's realm (Docker token auth spec)."""
    realm = challenge.realm
    if not realm.startswith(("https://", "http://")):
        raise AuthenticationError("registry %s sent a Bearer challenge without a usable realm" % host)
    service = challenge.params.get("service", "")
    wanted = tuple(sorted(set(scopes or ([challenge.params["scope"]] if challenge.params.get("scope") else []))))
    key = (realm, service, wanted, username or "")
    cached = cache.get(key)
    if cached:
        return cached
    params: List[Tuple[str, str]] = []
    if service:
        params.append(("service", service))
    params.extend(("scope", scope) for scope in wanted)
    headers = {}
    if username is not None:
        headers["Authorization"] = basic_header(username, password or "")
    import requests  # local: keeps this module importable for pure parsing tests
    try:
        response = session.get(realm, params=params, headers=headers, timeout=timeout, **(tls_args or {}))
    except requests.exceptions.SSLError as err:
        raise AuthenticationError("token service of %s (%s): %s" % (host, realm.split("?")[0], tls_failure(err, host)))
    except requests.exceptions.RequestException as err:
        raise TransientError("cannot reach the token service of %s (%s): %s"
                             % (host, realm.split("?")[0], describe_cause(err, host)))
    if response.status_code in (401, 403):
        who = "user %r" % username if username is not None else "anonymous access"
        raise AuthenticationError("registry %s refused %s (token service answered %d)"
                                  % (host, who, response.status_code), status=response.status_code)
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientError("token service of %s answered %d" % (host, response.status_code),
                             status=response.status_code)
    if response.status_code != 200:
        raise RegistryError("token service of %s answered %d" % (host, response.status_code),
                            status=response.status_code)
    token, expires_in = token_from_answer(response.content[:MAX_TOKEN_ANSWER + 1], host)
    cache.put(key, token, expires_in)
    return token


MAX_TOKEN_ANSWER = 1024 * 1024


def token_from_answer(raw: bytes, host: str) -> Tuple[str, float]:
    """The token and its lifetime in a token service's answer; anything else is a clear error."""
    what = "the answer of the token service of %s" % host
    if len(raw) > MAX_TOKEN_ANSWER:
        raise RegistryError("%s is larger than %d bytes" % (what, MAX_TOKEN_ANSWER))
    body = load_json(raw, what, error=RegistryError, expect=dict)
    token = body.get("token") or body.get("access_token")
    if not isinstance(token, str) or not token:
        raise RegistryError("token service of %s answered without a token" % host)
    expires_in = body.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) or expires_in <= 0:
        expires_in = 60
    return token, float(expires_in)
