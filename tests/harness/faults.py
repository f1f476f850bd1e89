# -*- coding: utf-8 -*-
"""A fault-injecting HTTP proxy in front of a real registry, on 127.0.0.1.

For faults the registry itself will not produce on demand: answer 503 or 429 to the
first N matching requests, cut a blob download after K bytes, trickle an answer a byte
at a time, replace its headers or body, or gzip it when the client asks for gzip (as a
recoding proxy would). Everything else is forwarded to the registry unchanged, so the
engine still talks to the real thing. Every request's headers are kept in ``seen``.
"""

from __future__ import annotations

import gzip
import http.client
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Iterable, List, Optional, Tuple


@dataclass
class Fault:
    """Applies to requests whose path contains ``match`` (and method, if given)."""

    match: str
    status: Optional[int] = None          # answer this status instead of forwarding
    cut_after: Optional[int] = None       # forward, but close the connection after this many body bytes
    times: int = 1                        # how many matching requests it applies to
    method: Optional[str] = None
    retry_after: Optional[str] = None
    headers: Dict[str, Optional[str]] = field(default_factory=dict)  # set (or, with None, drop) answer headers
    body: Optional[bytes] = None          # the answer's body instead of the registry's
    trickle: Optional[float] = None       # seconds between bytes of the body
    trickle_head: bool = False            # the status line and headers a byte at a time too
    gzip_if_asked: bool = False           # gzip the body when the request's Accept-Encoding allows it
    hits: int = 0


TRICKLE_LIMIT = 600.0  # seconds a trickled answer may last at most, so no handler outlives a test by much


@dataclass
class FaultProxy:
    upstream: str                                     # "127.0.0.1:PORT" of the registry (plain HTTP)
    faults: List[Fault] = field(default_factory=list)
    log: List[Tuple[str, str, int, Optional[str]]] = field(default_factory=list)  # method, path, status, range
    seen: List[Tuple[str, str, Dict[str, str]]] = field(default_factory=list)  # method, path, request headers

    def __post_init__(self) -> None:
        proxy = self
        self._closed = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _handle(self) -> None:
                fault = proxy._take(self.command, self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.seen.append((self.command, self.path, dict(self.headers.items())))
                if fault is not None and fault.status is not None:
                    proxy.log.append((self.command, self.path, fault.status, self.headers.get("Range")))
                    headers = [("Retry-After", fault.retry_after)] if fault.retry_after else []
                    data = fault.body or b""
                    self._answer(fault, fault.status, headers + [("Content-Length", str(len(data)))], [data])
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                    headers["Host"] = proxy.upstream
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    proxy.log.append((self.command, self.path, response.status, self.headers.get("Range")))
                    answer = []
                    for key, value in response.getheaders():
                        if key.lower() in ("connection", "transfer-encoding"):
                            continue
                        if key.lower() == "location":
                            value = value.replace(proxy.upstream, proxy.host)
                        answer.append((key, value))
                    chunks: Iterable[bytes] = iter(lambda: response.read(64 * 1024), b"")
                    if fault is not None and (fault.body is not None or fault.gzip_if_asked):
                        data = fault.body if fault.body is not None else b"".join(chunks)
                        if fault.gzip_if_asked and "gzip" in (self.headers.get("Accept-Encoding") or ""):
                            data = gzip.compress(data)
                            answer = _set(answer, "Content-Encoding", "gzip")
                        answer = _set(answer, "Content-Length", str(len(data)))
                        chunks = [data]
                    self._answer(fault, response.status, answer, chunks)
                finally:
                    conn.close()

            def _answer(self, fault: Optional[Fault], status: int, headers: List[Tuple[str, str]],
                        chunks: Iterable[bytes]) -> None:
                for key, value in (fault.headers if fault is not None else {}).items():
                    headers = _set(headers, key, value)
                reason = http.client.responses.get(status, "Unknown")
                head = ("HTTP/1.1 %d %s\r\n" % (status, reason)
                        + "".join("%s: %s\r\n" % item for item in headers) + "\r\n").encode("latin-1")
                trickle = fault.trickle if fault is not None else None
                self._send(head, trickle if fault is not None and fault.trickle_head else None)
                if self.command == "HEAD":
                    return
                sent = 0
                for chunk in chunks:
                    if fault is not None and fault.cut_after is not None and sent + len(chunk) > fault.cut_after:
                        self.wfile.write(chunk[:fault.cut_after - sent])
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    self._send(chunk, trickle)
                    sent += len(chunk)

            def _send(self, data: bytes, trickle: Optional[float]) -> None:
                if not trickle:
                    self.wfile.write(data)
                    return
                stop = time.monotonic() + TRICKLE_LIMIT
                for i in range(len(data)):
                    if proxy._closed.is_set() or time.monotonic() > stop:
                        self.close_connection = True
                        return
                    try:
                        self.wfile.write(data[i:i + 1])
                        self.wfile.flush()
                    except OSError:  # the client gave up: that is what a trickle test waits for
                        self.close_connection = True
                        return
                    time.sleep(trickle)

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
        self._closed.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _set(headers: List[Tuple[str, str]], key: str, value: Optional[str]) -> List[Tuple[str, str]]:
    """``headers`` with ``key`` replaced by ``value`` (or dropped, for None)."""
    kept = [(k, v) for k, v in headers if k.lower() != key.lower()]
    return kept + [(key, value)] if value is not None else kept
