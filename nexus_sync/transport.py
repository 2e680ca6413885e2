"""One bounded HTTP exchange: a wall-clock deadline over connect, headers and body, a cap on decoded bytes,
same-origin redirects followed by hand, and requests' exceptions turned into failure classes by type name.

requests' `timeout` is per socket read, so a server dripping a byte a second never trips it (seen: a 2 s
timeout held for 9 s). A watchdog thread shuts the request's socket down at the deadline; the connection
classes below hand it their socket, whichever thread asked."""
from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from nexus_sync.errors import AnswerTooLarge, ConfigError, SyncError, TransientError
from nexus_sync.origin import check_origin, origin_of

MB = 1024 * 1024
CHUNK = 64 * 1024  # decoded bytes per read: urllib3 ≥ 2.6 inflates no more than asked, so a bomb stays a chunk
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
# requests exceptions that mean the request itself is malformed (a header value with CR/LF, a bad URL):
# configuration, not weather. Their text carries the header value, i.e. the secret: only the type is kept.
_MALFORMED = (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
              requests.exceptions.MissingSchema, requests.exceptions.URLRequired, requests.exceptions.InvalidJSONError)


@dataclass
class Limits:
    """What one exchange may cost: per-read timeout, wall-clock deadline (s), decoded body cap (bytes)."""

    timeout: float
    deadline: float
    max_bytes: int
    label: str = "?"  # the connector, in messages

    def where(self, method: str, url: str) -> str:
        return f"{self.label + ': ' if self.label != '?' else ''}{method} {path_of(url)}"


# ----------------------------------------------------------------------------- the deadline watchdog
_local = threading.local()


class Deadline:
    """Wall-clock bound of one exchange; at expiry every socket it was handed is shut down."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.fired = self.finished = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def expired(self) -> bool:
        return self.fired or self.remaining() <= 0

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if not self.fired:
                self._socks.append(sock)
                return
        _shut(sock)

    def fire(self) -> None:
        with self._lock:
            if self.finished:
                return
            self.fired = True
            socks, self._socks = self._socks, []
        for sock in socks:
            _shut(sock)

    def __enter__(self) -> "Deadline":
        self._outer = getattr(_local, "deadline", None)
        _local.deadline = self
        _watchdog.add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.finished = True
            self._socks = []
        _local.deadline = self._outer


class _Watchdog:
    """One daemon thread fires every due deadline of the process (a timer thread per request costs ~0.5 ms)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._compact_at = 1024
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        with self._cond:
            if len(self._due) > self._compact_at:  # finished deadlines wait for their time: drop them now and then
                self._due = [entry for entry in self._due if not entry[2].finished]
                heapq.heapify(self._due)
                self._compact_at = max(1024, 2 * len(self._due))
            heapq.heappush(self._due, (deadline.ends, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="nexus-http-deadlines", daemon=True)
                self._thread.start()
            elif self._due[0][2] is deadline:  # sooner than what the thread sleeps for
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                if not self._due or self._due[0][0] > now:
                    self._cond.wait(self._due[0][0] - now if self._due else None)
                    continue
                deadline = heapq.heappop(self._due)[2]
            deadline.fire()


def _new_watchdog() -> None:
    global _watchdog
    _watchdog = _Watchdog()  # a forked child (Celery's prefork pool) has no thread of its parent's


_watchdog = _Watchdog()
os.register_at_fork(after_in_child=_new_watchdog)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv (close() would not)
    except OSError:
        pass


def _watch(sock: Any) -> None:
    deadline = getattr(_local, "deadline", None)
    if deadline is not None and sock is not None:
        deadline.watch(sock)


class _Watched:
    """Mixin of urllib3 connections: hand the socket to the current thread's deadline (new or reused).
    A TLS handshake is bounded by the per-read timeout only: its socket is handed over once it is done."""

    sock: Any

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _watch(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:  # pass-through of urllib3's signature
        _watch(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class WatchedAdapter(HTTPAdapter):
    """requests' adapter whose connections report their sockets to the deadline watchdog."""

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _POOLS
        return manager


def new_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = "nexus-sync/0.1"
    for prefix in ("https://", "http://"):
        session.mount(prefix, WatchedAdapter())
    return session


# ----------------------------------------------------------------------------- one exchange
def exchange(session: requests.Session, method: str, url: str, limits: Limits, *, headers: dict[str, str],
             follow: bool = True, **kwargs: Any) -> requests.Response:
    """Send and read the body, all within limits.deadline. follow: same-origin 301/302/303/307/308 are
    followed (at most MAX_REDIRECTS; a cross-origin Location is ForeignOriginError); else a 3xx is returned."""
    with Deadline(limits.deadline) as deadline:
        for _ in range(MAX_REDIRECTS + 1):
            resp = _hop(session, method, url, limits, deadline, headers, kwargs)
            location = resp.headers.get("Location") if resp.status_code in REDIRECTS else None
            if location is None or not follow:
                return _read_bounded(resp, method, url, limits, deadline)
            resp.close()
            target = urljoin(url, location)
            check_origin(target, origin_of(url), limits.label, what="a redirect")
            method, headers, kwargs = _redirected(resp.status_code, method, headers, kwargs)
            url = target
    raise TransientError(f"{limits.where(method, url)}: more than {MAX_REDIRECTS} redirects")


def _hop(session: requests.Session, method: str, url: str, limits: Limits, deadline: Deadline,
         headers: dict[str, str], kwargs: dict[str, Any]) -> requests.Response:
    if deadline.expired():
        raise _late(method, url, limits)
    connect = max(0.05, min(limits.timeout, deadline.remaining()))
    try:
        return session.request(method, url, headers=headers, timeout=(connect, limits.timeout), stream=True,
                               allow_redirects=False, **kwargs)
    except requests.RequestException as exc:
        raise failure(exc, method, url, limits, deadline) from None


def _redirected(status: int, method: str, headers: dict[str, str],
                kwargs: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The next hop's request: the Location is complete (no params again); 303, and 301/302 after a POST,
    become a body-less GET as browsers do."""
    kwargs = {k: v for k, v in kwargs.items() if k != "params"}
    if status == 303 and method != "HEAD" or status in (301, 302) and method == "POST":
        method = "GET"
        kwargs = {k: v for k, v in kwargs.items() if k not in ("data", "json", "files")}
        headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}
    return method, headers, kwargs


def _read_bounded(resp: requests.Response, method: str, url: str, limits: Limits,
                  deadline: Deadline) -> requests.Response:
    """Read the decoded body in chunks, checking the deadline between reads and the cap after each."""
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            if deadline.expired():
                raise _late(method, url, limits)
            chunk = resp.raw.read1(CHUNK, decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limits.max_bytes:
                raise AnswerTooLarge(f"{limits.where(method, url)}: answer larger than "
                                     f"{limits.max_bytes / MB:g} MB decoded")
        if deadline.fired:  # the watchdog's shutdown reads as an end of file
            raise _late(method, url, limits)
    except SyncError:
        resp.close()
        raise
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
        resp.close()
        raise failure(exc, method, url, limits, deadline) from None
    resp._content = b"".join(chunks)
    resp._content_consumed = True
    resp.close()  # back to the pool: the body was read to its end
    return resp


def failure(exc: BaseException, method: str, url: str, limits: Limits, deadline: Deadline | None = None) -> SyncError:
    """Our failure class for a transport exception, from its type name only: str(exc) may hold a header
    value (InvalidHeader prints the secret) or a vendor's text."""
    if deadline is not None and deadline.expired():
        return _late(method, url, limits)
    what = f"{limits.where(method, url)}: {type(exc).__name__}"
    if isinstance(exc, _MALFORMED):
        return ConfigError(f"{what} (a malformed header or URL: check the connector's secrets and base_url)")
    return TransientError(what)


def _late(method: str, url: str, limits: Limits) -> TransientError:
    return TransientError(f"{limits.where(method, url)}: exceeded its {limits.deadline:g} s deadline")


def path_of(url: str) -> str:
    """URL without the query string: queries may carry filters or tokens; never log more than needed."""
    return url.split("?", 1)[0]
