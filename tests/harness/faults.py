# -*- coding: utf-8 -*-
"""A fault-injecting HTTP proxy in front of a real registry, on 127.0.0.1.

For faults the registry itself will not produce on demand: answer 503 or 429 to the
first N matching requests, or cut a blob download after K bytes. Everything else is
forwarded to the registry unchanged, so the engine still talks to the real thing.
"""

from __future__ import annotations

import http.client
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List, Optional, Tuple


@dataclass
class Fault:
    """Applies to requests whose path contains ``match`` (and method, if given)."""

    match: str
    status: Optional[int] = None          # answer this status instead of forwarding
    cut_after: Optional[int] = None       # forward, but close the connection after this many body bytes
    times: int = 1                        # how many matching requests it applies to
    method: Optional[str] = None
    retry_after: Optional[str] = None
    hits: int = 0


@dataclass
class FaultProxy:
    upstream: str                                     # "127.0.0.1:PORT" of the registry (plain HTTP)
    faults: List[Fault] = field(default_factory=list)
    log: List[Tuple[str, str, int, Optional[str]]] = field(default_factory=list)  # method, path, status, range

    def __post_init__(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _handle(self) -> None:
                fault = proxy._take(self.command, self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if fault is not None and fault.status is not None:
                    proxy.log.append((self.command, self.path, fault.status, self.headers.get("Range")))
                    self.send_response(fault.status)
                    if fault.retry_after:
                        self.send_header("Retry-After", fault.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                headers["Host"] = proxy.upstream
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                proxy.log.append((self.command, self.path, response.status, self.headers.get("Range")))
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() in ("connection", "transfer-encoding"):
                        continue
                    if key.lower() == "location":
                        value = value.replace(proxy.upstream, proxy.host)
                    self.send_header(key, value)
                self.end_headers()
                sent = 0
                while True:
                    chunk = response.read(64 * 1024)
                    if not chunk:
                        break
                    if fault is not None and fault.cut_after is not None and sent + len(chunk) > fault.cut_after:
                        self.wfile.write(chunk[:fault.cut_after - sent])
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        conn.close()
                        return
                    self.wfile.write(chunk)
                    sent += len(chunk)
                conn.close()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = "127.0.0.1:%d" % self.server.server_address[1]
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _take(self, method: str, path: str) -> Optional[Fault]:
        with self._lock:
            for fault in self.faults:
                if fault.match in path and (fault.method is None or fault.method == method) \
                        and fault.hits < fault.times:
                    fault.hits += 1
                    return fault
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
