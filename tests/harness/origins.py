# -*- coding: utf-8 -*-
"""Two small servers on 127.0.0.1 for testing where credentials go.

* :class:`Recorder` records every request it gets, with its Authorization header, and
  answers like a registry or token service would (uploads, tag lists, tokens), optionally
  asking for credentials first (``challenge``), as a mirror or a source registry does.
* :class:`ScriptedRegistry` is a registry of our own that demands credentials, then points
  the client at another origin: upload Locations, a tag-list ``Link: rel=next``, redirects
  of manifests and blobs, or a Bearer realm.

Both can serve TLS (``cert``/``key``). Every request is answered from memory; nothing
loops, and ``close()`` stops the server.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
TOKEN = "token-from-the-realm"
MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": OCI_MANIFEST,
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
               "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
    "layers": []}).encode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    authorization: Optional[str]


class _Server:
    """A threaded HTTP(S) server on an ephemeral port of 127.0.0.1 whose handler calls ``answer``."""

    def __init__(self, cert: Optional[str] = None, key: Optional[str] = None) -> None:
        self.seen: List[Seen] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                authorization = self.headers.get("Authorization")
                with owner._lock:
                    owner.seen.append(Seen(self.command, self.path, authorization))
                status, headers, body = owner.answer(self.command, self.path, authorization)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.host = "127.0.0.1:%d" % self.server.server_address[1]
        self.url = "%s://%s" % (self.scheme, self.host)
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()

    def answer(self, method: str, path: str, authorization: Optional[str]) -> Tuple[int, Dict[str, str], bytes]:
        raise NotImplementedError

    def authorizations(self) -> List[Optional[str]]:
        with self._lock:
            return [seen.authorization for seen in self.seen]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _json(status: int, body: object, headers: Optional[Dict[str, str]] = None) -> Tuple[int, Dict[str, str], bytes]:
    return status, dict({"Content-Type": "application/json"}, **(headers or {})), json.dumps(body).encode()


class Recorder(_Server):
    """Records every request; answers uploads, tag lists and token requests, 404 otherwise.

    With ``challenge`` (a WWW-Authenticate value), a request without Authorization is
    answered 401 with it first, so that a client that would send credentials does."""

    def __init__(self, challenge: Optional[str] = None, cert: Optional[str] = None, key: Optional[str] = None) -> None:
        self.challenge = challenge
        super().__init__(cert, key)

    def answer(self, method: str, path: str, authorization: Optional[str]) -> Tuple[int, Dict[str, str], bytes]:
        if self.challenge and not authorization:
            return _json(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": self.challenge})
        if path.startswith("/token"):
            return _json(200, {"token": TOKEN, "expires_in": 300})
        if path.startswith("/upload/"):
            if method == "PATCH":
                return 202, {"Location": self.url + "/upload/next", "Range": "0-0"}, b""
            return (201 if method == "PUT" else 204), {}, b""
        if "/tags/list" in path:
            return _json(200, {"name": "r", "tags": ["from-the-other-origin"]})
        return _json(404, {"errors": [{"code": "MANIFEST_UNKNOWN"}]})


class ScriptedRegistry(_Server):
    """A registry that wants ``user``/``password`` (Basic), or with ``realm`` a Bearer token from
    that realm, and then names ``elsewhere`` (an origin URL) for uploads, the next tag page,
    and (``redirect=True``) manifests and blobs."""

    def __init__(self, elsewhere: str, user: str = "user", password: str = "pass", realm: Optional[str] = None,
                 redirect: bool = False, cert: Optional[str] = None, key: Optional[str] = None) -> None:
        self.elsewhere = elsewhere
        self.expected = "Bearer " + TOKEN if realm else basic(user, password)
        self.challenge = 'Bearer realm="%s",service="scripted"' % realm if realm else 'Basic realm="scripted"'
        self.redirect = redirect
        super().__init__(cert, key)

    def answer(self, method: str, path: str, authorization: Optional[str]) -> Tuple[int, Dict[str, str], bytes]:
        if authorization != self.expected:
            return _json(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": self.challenge})
        if path == "/v2/":
            return _json(200, {})
        if "/blobs/uploads/" in path and method == "POST":
            return 202, {"Location": self.elsewhere + "/upload/1", "Range": "0-0"}, b""
        if "/tags/list" in path:
            link = '<%s/v2/r/tags/list?last=a>; rel="next"' % self.elsewhere
            return _json(200, {"name": "r", "tags": ["a"]}, {"Link": link})
        if self.redirect and ("/manifests/" in path or "/blobs/" in path):
            return 307, {"Location": self.elsewhere + path}, b""
        if "/manifests/" in path:
            return 200, {"Content-Type": OCI_MANIFEST}, MANIFEST
        if "/blobs/" in path:
            return _json(404, {"errors": [{"code": "BLOB_UNKNOWN"}]})
        return _json(404, {"errors": [{"code": "NAME_UNKNOWN"}]})
