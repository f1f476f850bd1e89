# -*- coding: utf-8 -*-
# Copyright: undock.oci contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Overall deadlines for registry requests and blob downloads.

requests' timeout bounds each socket operation, so a server that sends a byte every few
seconds keeps one request alive for ever, in the headers or in the body. A ``Deadline``
bounds the whole exchange: when it expires, its timer shuts down the sockets the exchange
uses, which wakes the blocked read, and the caller raises ``DeadlineError`` naming the host.

The sockets are learnt from urllib3's own extension point, the pools' ``ConnectionCls``:
every connection a watched pool makes reports each socket it connects or reuses to the
deadline active on the current thread.
"""

from __future__ import annotations

import heapq
import socket
import threading
import time
from contextlib import contextmanager

from ..common.errors import RegistryError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/architecture.md, "Import cost")
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Optional, Tuple


class DeadlineError(RegistryError):
    """A request or blob download took longer than its deadline."""


_active = threading.local()


class Deadline:
    """A time limit for one exchange with ``host``; ``what`` and ``why`` go into its error.

    Started on creation; ``cancel`` it when the exchange is over, or the watchdog may later
    shut down a connection that the pool gave to another request.
    """

    def __init__(self, seconds: float, host: str, what: str, why: str):
        self.seconds = seconds
        self.host = host
        self.what = what
        self.why = why
        self.expired = False
        self._sockets: List[Any] = []
        self._done = False
        self._lock = threading.Lock()
        _WATCHDOG.add(time.monotonic() + seconds, self)

    @contextmanager
    def watching(self) -> Iterator["Deadline"]:
        """Sockets connected or reused on this thread inside the block belong to this deadline."""
        previous = getattr(_active, "deadline", None)
        _active.deadline = self
        try:
            yield self
        finally:
            _active.deadline = previous

    @property
    def done(self) -> bool:
        return self._done

    def watch(self, sock: Any) -> None:
        with self._lock:
            if self._done:
                return
            if self.expired:
                _shutdown(sock)
            elif not any(s is sock for s in self._sockets):
                self._sockets.append(sock)

    def expire(self) -> None:
        """Called by the watchdog when the time is up."""
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)

    def cancel(self) -> None:
        with self._lock:
            self._done = True
            self._sockets = []

    def check(self) -> None:
        """Raise the deadline's error if it has expired (whatever else went wrong then)."""
        if self.expired:
            raise self.error()

    def error(self) -> DeadlineError:
        return DeadlineError("registry %s: %s did not finish within %.4g s (%s); the registry or the network is too "
                             "slow: raise request_timeout or lower min_transfer_rate"
                             % (self.host, self.what, self.seconds, self.why))


class _Watchdog:
    """One thread for every deadline of the process: a thread per request would cost a
    start each time, and each thread leaves a malloc arena behind."""

    def __init__(self) -> None:
        self._heap: List[Tuple[float, int, Deadline]] = []
        self._count = 0
        self._wake = threading.Condition()
        self._thread: Optional[threading.Thread] = None

    def add(self, at: float, deadline: Deadline) -> None:
        with self._wake:
            self._count += 1
            if len(self._heap) > 4096:  # cancelled ones wait for their time at the top: drop them now
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (at, self._count, deadline))
            if self._thread is None or not self._thread.is_alive():  # also after a fork
                self._thread = threading.Thread(target=self._run, name="undock-deadlines", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)  # cancelled: dropped unseen
                if not self._heap:
                    self._wake.wait()
                    continue
                at, dummy, deadline = self._heap[0]
                now = time.monotonic()
                if at > now:
                    self._wake.wait(at - now)
                    continue
                heapq.heappop(self._heap)
            deadline.expire()


_WATCHDOG = _Watchdog()


def _shutdown(sock: Any) -> None:
    # socket.socket's own shutdown, also for an SSLSocket: it only wakes the reader, and
    # leaves the TLS object to the thread that uses it.
    try:
        if isinstance(sock, socket.socket):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        elif sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed: nothing left to wake
        pass


def _report(sock: Any) -> None:
    deadline = getattr(_active, "deadline", None)
    if deadline is not None and sock is not None:
        deadline.watch(sock)


class _ReportsSockets:
    """Mixed into a urllib3 connection class: report each socket used to the active deadline."""

    sock: Any

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _report(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> Any:
        _report(self.sock)
        return super().request(*args, **kwargs)  # type: ignore[misc]

    def request_chunked(self, *args: Any, **kwargs: Any) -> Any:  # urllib3 1.26 sends chunked bodies here
        _report(self.sock)
        return super().request_chunked(*args, **kwargs)  # type: ignore[misc]


_WATCHED: Dict[type, type] = {}


def _watched_pool(pool_class: type) -> type:
    if pool_class in _WATCHED.values():  # a proxy manager requests hands out again
        return pool_class
    watched = _WATCHED.get(pool_class)
    if watched is None:
        connection_class = pool_class.ConnectionCls  # type: ignore[attr-defined]
        reporting = type("Watched" + connection_class.__name__, (_ReportsSockets, connection_class), {})
        watched = type("Watched" + pool_class.__name__, (pool_class,), {"ConnectionCls": reporting})
        _WATCHED[pool_class] = watched
    return watched


def watch_pool_manager(manager: Any) -> Any:
    """Make every pool ``manager`` creates report its sockets (plain, TLS, proxy or SOCKS alike)."""
    manager.pool_classes_by_scheme = {scheme: _watched_pool(cls) for scheme, cls in manager.pool_classes_by_scheme.items()}
    return manager


def deadline_adapter(pool_size: int) -> Any:
    """A requests HTTPAdapter whose connections can be cut by a Deadline."""
    from requests.adapters import HTTPAdapter

    class DeadlineAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            watch_pool_manager(self.poolmanager)

        def proxy_manager_for(self, proxy: Any, **kwargs: Any) -> Any:
            return watch_pool_manager(super().proxy_manager_for(proxy, **kwargs))

    return DeadlineAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
