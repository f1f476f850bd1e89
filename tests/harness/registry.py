# -*- coding: utf-8 -*-
"""Start real Distribution 2.8 registries (``docker-registry serve``) on 127.0.0.1.

Kinds:
  * ``plain``: HTTP, no auth;
  * ``tls``: HTTPS with a server certificate signed by the test CA (``client_auth=True``
    also demands a client certificate signed by that CA; ``selfsigned=True`` serves the
    standalone self-signed certificate instead, and ``ca_cert`` is then None);
  * ``basic``: htpasswd (bcrypt) auth, over HTTPS by default (``tls=False`` works too:
    Distribution 2.8.2 serves htpasswd auth over plain HTTP without complaint);
  * ``token``: Docker token auth against a :class:`~.tokenissuer.TokenIssuer`, HTTP by default.

The config is written as JSON, which is valid YAML. Every started process is recorded and
killed at interpreter exit as a last resort; fixtures stop them explicitly.
"""

from __future__ import annotations

import atexit
import base64
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse
from typing import Dict, List, Optional, Tuple

from .pki import PKI, make_pki
from .tokenissuer import TokenIssuer

REGISTRY_BIN = "/usr/bin/docker-registry"
KINDS = ("plain", "tls", "basic", "token")
READY_TIMEOUT = 10.0
START_ATTEMPTS = 5
_DIGEST_RE = re.compile(r"^(sha256):([0-9a-f]{64})$|^(sha512):([0-9a-f]{128})$")
_ACCESS_RE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) ')

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
ACCEPT_ALL = ", ".join(MANIFEST_TYPES)

_LIVE: "set[Registry]" = set()


def free_port() -> int:
    """Return a port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the parent dies (even by SIGKILL).

    Linux sends it when the *thread* that forked exits, so start registries from the
    main thread (pytest fixtures do).
    """
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort; atexit and fixtures still stop it
        pass


def _kill_all_at_exit() -> None:
    for reg in list(_LIVE):
        try:
            reg.kill()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(_kill_all_at_exit)


class RegistryError(RuntimeError):
    """The registry could not be started or did not become ready."""


class Registry:
    """One docker-registry process with its own storage, config and log."""

    def __init__(self, kind: str = "plain", workdir: Optional[str] = None, *,
                 pki: Optional[PKI] = None, tls: Optional[bool] = None,
                 username: str = "user", password: str = "pass",
                 issuer: Optional[TokenIssuer] = None, public_prefix: str = "public/",
                 client_auth: bool = False, selfsigned: bool = False) -> None:
        if kind not in KINDS:
            raise ValueError("kind must be one of %s" % (KINDS,))
        self.kind = kind
        self._owns_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="undock-registry-")
        os.makedirs(self.workdir, exist_ok=True)
        self.root = os.path.join(self.workdir, "storage")
        os.makedirs(self.root, exist_ok=True)
        self.config_path = os.path.join(self.workdir, "config.yml")
        self.log_path = os.path.join(self.workdir, "registry.log")
        self.tls = tls if tls is not None else kind in ("tls", "basic")
        self.client_auth = client_auth
        self.selfsigned = selfsigned
        if (client_auth or selfsigned) and not self.tls:
            raise ValueError("client_auth and selfsigned need TLS")
        self.pki = pki
        if self.tls and self.pki is None:
            self.pki = make_pki(os.path.join(self.workdir, "pki"))
        self.scheme = "https" if self.tls else "http"
        # ca_cert: the CA that vouches for the server (None for plain HTTP or selfsigned).
        self.ca_cert: Optional[str] = None
        self.server_cert: Optional[str] = None  # the certificate the server presents
        if self.tls:
            assert self.pki is not None
            self.ca_cert = None if selfsigned else self.pki.ca_cert
            self.server_cert = self.pki.selfsigned_cert if selfsigned else self.pki.server_cert
        self.username: Optional[str] = username if kind in ("basic", "token") else None
        self.password: Optional[str] = password if kind in ("basic", "token") else None
        self.issuer: Optional[TokenIssuer] = None
        self._owns_issuer = False
        if kind == "token":
            if issuer is None:
                issuer = TokenIssuer(os.path.join(self.workdir, "issuer.pem"),
                                     users={username: password}, public_prefix=public_prefix)
                self._owns_issuer = True
            self.issuer = issuer
        self.port: Optional[int] = None
        self.process: Optional[subprocess.Popen] = None
        self._secret = secrets.token_hex(16)  # fixed: upload sessions survive restart()

    # -- addresses -------------------------------------------------------
    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``."""
        if self.port is None:
            raise RegistryError("registry has no port yet; call start()")
        return "127.0.0.1:%d" % self.port

    @property
    def url(self) -> str:
        """``http(s)://127.0.0.1:PORT``."""
        return "%s://%s" % (self.scheme, self.host)

    def __repr__(self) -> str:
        return "<Registry %s %s>" % (self.kind, self.url if self.port else "(stopped)")

    # -- config ----------------------------------------------------------
    def _config(self) -> dict:
        http_cfg: dict = {"addr": self.host, "secret": self._secret,
                          "headers": {"X-Content-Type-Options": ["nosniff"]}}
        if self.tls:
            assert self.pki is not None
            key = self.pki.selfsigned_key if self.selfsigned else self.pki.server_key
            http_cfg["tls"] = {"certificate": self.server_cert, "key": key}
            if self.client_auth:
                http_cfg["tls"]["clientcas"] = [self.pki.ca_cert]
        cfg: dict = {
            "version": "0.1",
            "log": {"level": "warn", "formatter": "text"},
            "storage": {
                "filesystem": {"rootdirectory": self.root},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": http_cfg,
        }
        if self.kind == "basic":
            htpasswd = os.path.join(self.workdir, "htpasswd")
            if not os.path.exists(htpasswd):
                out = subprocess.run(["htpasswd", "-Bbn", self.username, self.password],
                                     check=True, capture_output=True, timeout=30).stdout
                with open(htpasswd, "wb") as f:
                    f.write(out)
            cfg["auth"] = {"htpasswd": {"realm": "undock-test", "path": htpasswd}}
        elif self.kind == "token":
            assert self.issuer is not None
            cfg["auth"] = {"token": {"realm": self.issuer.realm, "service": self.issuer.service,
                                     "issuer": self.issuer.issuer,
                                     "rootcertbundle": self.issuer.cert_path}}
        return cfg

    # -- lifecycle -------------------------------------------------------
    def start(self) -> "Registry":
        """Start the process (same port again after a stop) and wait until it answers."""
        if self.running:
            return self
        if self.issuer is not None and self._owns_issuer:
            self.issuer.start()
        keep_port = self.port is not None
        last = ""
        for _ in range(START_ATTEMPTS):
            if not keep_port:
                self.port = free_port()
            with open(self.config_path, "w") as f:
                json.dump(self._config(), f, indent=1)
            with open(self.log_path, "ab") as log:
                log.write(b"--- start %s on %s\n" % (self.kind.encode(), self.host.encode()))
                log.flush()
                self.process = subprocess.Popen(
                    [REGISTRY_BIN, "serve", self.config_path], stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                    preexec_fn=_die_with_parent)
            _LIVE.add(self)
            try:
                self.wait_ready()
                return self
            except RegistryError as e:
                last = str(e)
                self.kill()
                if "address already in use" not in self.read_log()[-4000:]:
                    break
                if keep_port:  # the old port may be in use for a moment: bounded retry
                    time.sleep(0.5)
        raise RegistryError("docker-registry did not start: %s\n%s" % (last, self.read_log()[-3000:]))

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, wait, then SIGKILL if needed. Keeps port and storage for restart()."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        self.process = None
        _LIVE.discard(self)

    def kill(self) -> None:
        """SIGKILL the process (a crash), and reap it."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        self.process = None
        _LIVE.discard(self)

    def restart(self) -> "Registry":
        """Stop and start again on the same port with the same storage."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the registry (and an issuer it owns); remove the workdir if we created it."""
        self.stop()
        if self.issuer is not None and self._owns_issuer:
            self.issuer.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Registry":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll ``GET /v2/`` until it answers 200 or 401 (bounded by ``timeout``)."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RegistryError("process exited with %s" % self.process.returncode)
            try:
                status, _, _ = self.request("GET", "/v2/", auth=False, timeout=1.0)
                if status in (200, 401):
                    return
                last = status
            except (OSError, http.client.HTTPException) as e:
                last = e
            time.sleep(0.05)
        raise RegistryError("not ready after %.1fs: %r" % (timeout, last))

    # -- HTTP helpers ------------------------------------------------------
    def ssl_context(self, client_cert: bool = True) -> Optional[ssl.SSLContext]:
        """An SSL context trusting the test CA (and presenting the client cert if demanded)."""
        if not self.tls:
            return None
        assert self.pki is not None
        ctx = ssl.create_default_context(cafile=self.ca_cert or self.server_cert)
        if client_cert and self.client_auth:
            ctx.load_cert_chain(self.pki.client_cert, self.pki.client_key)
        return ctx

    def token(self, scope: Optional[str] = None, anonymous: bool = False) -> str:
        """Fetch a bearer token from the issuer (token kind only), with our credentials."""
        assert self.issuer is not None, "not a token registry"
        query = {"service": self.issuer.service}
        if scope:
            query["scope"] = scope
        u = urllib.parse.urlsplit(self.issuer.realm)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
        headers = {} if anonymous else {"Authorization": self._basic()}
        try:
            conn.request("GET", u.path + "?" + urllib.parse.urlencode(query), headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            raise RegistryError("token request failed: %d %r" % (resp.status, body[:200]))
        return json.loads(body)["token"]

    def _basic(self) -> str:
        raw = ("%s:%s" % (self.username, self.password)).encode()
        return "Basic " + base64.b64encode(raw).decode()

    def auth_headers(self, scope: Optional[str] = None) -> Dict[str, str]:
        """Headers that authorize a raw request (``scope`` like ``repository:a/b:pull,push``)."""
        if self.kind == "basic":
            return {"Authorization": self._basic()}
        if self.kind == "token":
            return {"Authorization": "Bearer " + self.token(scope)}
        return {}

    def request(self, method: str, path: str, headers: Optional[Dict[str, str]] = None,
                body: Optional[bytes] = None, auth: bool = True, scope: Optional[str] = None,
                timeout: float = 10.0) -> Tuple[int, Dict[str, str], bytes]:
        """One raw HTTP request to the registry: returns (status, headers, body).

        With ``auth`` the credentials of this registry are added (for token registries a token
        for ``scope`` is fetched first). Header names in the result are lower-cased.
        """
        hdrs = dict(headers or {})
        if auth:
            hdrs.update(self.auth_headers(scope))
        if self.tls:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout, context=self.ssl_context())
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def get_manifest(self, repo: str, ref: str) -> Tuple[int, Dict[str, str], bytes]:
        """GET a manifest with all four manifest types in Accept (see ANCHORS quirks)."""
        return self.request("GET", "/v2/%s/manifests/%s" % (repo, ref),
                            headers={"Accept": ACCEPT_ALL}, scope="repository:%s:pull" % repo)

    # -- storage & logs -------------------------------------------------
    def _split_digest(self, digest: str) -> Tuple[str, str]:
        m = _DIGEST_RE.match(digest)
        if not m:
            raise ValueError("bad digest %r" % digest)
        algo = m.group(1) or m.group(3)
        hexpart = m.group(2) or m.group(4)
        return algo, hexpart

    def blob_path(self, repo: Optional[str], digest: str) -> str:
        """On-disk data file of a blob (blobs are global; ``repo`` is only checked if given)."""
        algo, hexpart = self._split_digest(digest)
        path = os.path.join(self.root, "docker", "registry", "v2", "blobs", algo, hexpart[:2],
                            hexpart, "data")
        if repo is not None and not os.path.exists(self.layer_link_path(repo, digest)) \
                and not os.path.exists(self.manifest_revision_path(repo, digest)):
            raise FileNotFoundError("%s is not linked into %s" % (digest, repo))
        return path

    def layer_link_path(self, repo: str, digest: str) -> str:
        """The ``_layers`` link file that makes a blob visible in ``repo``."""
        algo, hexpart = self._split_digest(digest)
        return os.path.join(self.root, "docker", "registry", "v2", "repositories", repo,
                            "_layers", algo, hexpart, "link")

    def manifest_revision_path(self, repo: str, digest: str) -> str:
        """The ``_manifests/revisions`` link file of a manifest in ``repo``."""
        algo, hexpart = self._split_digest(digest)
        return os.path.join(self.root, "docker", "registry", "v2", "repositories", repo,
                            "_manifests", "revisions", algo, hexpart, "link")

    def read_log(self) -> str:
        """The whole log file (app log and access log) as text."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def access_log(self) -> List[Tuple[str, str, int]]:
        """(method, path, status) of every request in the access log so far."""
        out = []
        for line in self.read_log().splitlines():
            m = _ACCESS_RE.search(line)
            if m:
                out.append((m.group("method"), m.group("path"), int(m.group("status"))))
        return out
