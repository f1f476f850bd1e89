# -*- coding: utf-8 -*-
"""A small Docker-style token issuer for Distribution's ``auth: token``.

``GET /token?service=S&scope=repository:NAME:pull,push`` (``scope`` may repeat) answers
``{"token": JWT, "access_token": JWT, "expires_in": TTL}``. The JWT is RS256, signed with
``cryptography``; its header carries the issuer's self-signed certificate in ``x5c``.
``POST /token`` (OAuth2 ``grant_type=password`` form) is answered the same way.

Policy, as real registries do it:
  * wrong Basic credentials -> 401;
  * anonymous callers get only ``pull`` on repositories under ``public_prefix``;
  * users in ``pull_only`` get only ``pull``; other users get what they asked for.
"""

from __future__ import annotations

import base64
import datetime
import json
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Iterable, List, Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def b64url(data: bytes) -> str:
    """base64url without padding, as JOSE wants it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def parse_scope(scope: str) -> Optional[Dict[str, object]]:
    """Parse ``TYPE:NAME:ACTIONS`` (NAME may hold ``:`` for hosts with ports); None if malformed."""
    parts = scope.split(":")
    if len(parts) < 3:
        return None
    typ, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1]
    return {"type": typ, "name": name, "actions": [a for a in actions.split(",") if a]}


@dataclass
class TokenRequest:
    """One request seen by the issuer."""

    method: str
    user: Optional[str]
    service: Optional[str]
    scopes: List[str]
    status: int
    access: List[dict] = field(default_factory=list)


class TokenIssuer:
    """Token server on 127.0.0.1 (ephemeral port), run in a daemon thread."""

    def __init__(self, cert_path: str, users: Optional[Dict[str, str]] = None,
                 service: str = "undock-test-registry", issuer: str = "undock-test-issuer",
                 public_prefix: str = "public/", pull_only: Iterable[str] = (),
                 ttl: int = 300) -> None:
        self.cert_path = cert_path
        self.users = dict(users if users is not None else {"user": "pass"})
        self.service = service
        self.issuer = issuer
        self.public_prefix = public_prefix
        self.pull_only = set(pull_only)
        self.ttl = ttl
        self.log: List[TokenRequest] = []
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])
        self._cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                      .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                      .not_valid_before(now - datetime.timedelta(minutes=5))
                      .not_valid_after(now + datetime.timedelta(days=2))
                      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                      .sign(self._key, hashes.SHA256()))
        with open(cert_path, "wb") as f:
            f.write(self._cert.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()

    # -- lifecycle -------------------------------------------------------
    def start(self) -> "TokenIssuer":
        """Start serving; idempotent."""
        if self._server is not None:
            return self
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2},
                                        name="token-issuer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> "TokenIssuer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "issuer not started"
        return self._server.server_address[1]

    @property
    def realm(self) -> str:
        """The URL to configure as the registry's token realm."""
        return "http://127.0.0.1:%d/token" % self.port

    # -- accounting ------------------------------------------------------
    @property
    def requests(self) -> int:
        """How many token requests were answered (any status)."""
        with self._lock:
            return len(self.log)

    def reset(self) -> None:
        """Forget the request log."""
        with self._lock:
            self.log.clear()

    def _record(self, req: TokenRequest) -> None:
        with self._lock:
            self.log.append(req)

    # -- tokens ----------------------------------------------------------
    def grant(self, user: Optional[str], scopes: Iterable[str]) -> List[dict]:
        """Apply the policy: return the ``access`` claim for ``user`` (None = anonymous)."""
        access: List[dict] = []
        for scope in scopes:
            for one in scope.split(" "):
                parsed = parse_scope(one)
                if parsed is None:
                    continue
                wanted = list(parsed["actions"])  # type: ignore[arg-type]
                if user is None:
                    ok = (parsed["type"] == "repository"
                          and str(parsed["name"]).startswith(self.public_prefix))
                    actions = [a for a in wanted if a == "pull"] if ok else []
                elif user in self.pull_only:
                    actions = [a for a in wanted if a == "pull"]
                else:
                    actions = wanted
                if actions:
                    access.append({"type": parsed["type"], "name": parsed["name"],
                                   "actions": actions})
        return access

    def make_token(self, subject: str, access: List[dict], ttl: Optional[int] = None,
                   audience: Optional[str] = None, issuer: Optional[str] = None,
                   not_before: Optional[int] = None) -> str:
        """Sign a JWT; the keyword overrides exist to build bad tokens on purpose."""
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {
            "iss": issuer if issuer is not None else self.issuer,
            "sub": subject,
            "aud": audience if audience is not None else self.service,
            "exp": now + (ttl if ttl is not None else self.ttl),
            "nbf": not_before if not_before is not None else now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                         + b64url(json.dumps(claims, separators=(",", ":")).encode()))
        sig = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(sig)

    def check_basic(self, header: Optional[str]) -> "tuple[bool, Optional[str]]":
        """Return (valid, user) for an Authorization header (absent header = valid anonymous)."""
        if not header:
            return True, None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False, None
        try:
            user, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False, None
        if user in self.users and self.users[user] == password:
            return True, user
        return False, None


def _handler_for(issuer: TokenIssuer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # keep pytest output quiet
            pass

        def _send(self, status: int, body: dict, extra: Optional[Dict[str, str]] = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _answer(self, method: str, user: Optional[str], ok: bool, service: Optional[str],
                    scopes: List[str]) -> None:
            if not ok:
                issuer._record(TokenRequest(method, user, service, scopes, 401))
                self._send(401, {"errors": [{"code": "UNAUTHORIZED",
                                             "message": "invalid credentials"}]},
                           {"WWW-Authenticate": 'Basic realm="undock-test-issuer"'})
                return
            access = issuer.grant(user, scopes)
            token = issuer.make_token(user or "", access)
            issuer._record(TokenRequest(method, user, service, scopes, 200, access))
            self._send(200, {
                "token": token, "access_token": token, "expires_in": issuer.ttl,
                "issued_at": datetime.datetime.now(datetime.timezone.utc).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"),
            })

        def do_GET(self):  # noqa: N802
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/token":
                self._send(404, {"error": "not found"})
                return
            q = urllib.parse.parse_qs(url.query)
            ok, user = issuer.check_basic(self.headers.get("Authorization"))
            self._answer("GET", user, ok, (q.get("service") or [None])[0], q.get("scope", []))

        def do_POST(self):  # noqa: N802
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, 1 << 16)).decode("utf-8", "replace")
            if url.path != "/token":
                self._send(404, {"error": "not found"})
                return
            form = urllib.parse.parse_qs(body)
            grant = (form.get("grant_type") or [""])[0]
            user = (form.get("username") or [None])[0]
            if grant == "password" and user is not None:
                ok = issuer.users.get(user) == (form.get("password") or [None])[0]
            else:
                ok, user = issuer.check_basic(self.headers.get("Authorization"))
            scopes = [s for v in form.get("scope", []) for s in v.split(" ")]
            self._answer("POST", user, ok, (form.get("service") or [None])[0], scopes)

    return Handler
