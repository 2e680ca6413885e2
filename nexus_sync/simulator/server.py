"""The vendor simulator: one local HTTP server, every vendor under its own URL prefix.

``http://127.0.0.1:PORT/<vendor>/<the vendor's real path>`` answers like the vendor would
(paths, envelopes, auth, paging, rate-limit headers: ../shared/vendor-apis.md), so a
connector's base URL is ``http://127.0.0.1:PORT/<vendor>``.
``http://127.0.0.1:PORT/_sim/<vendor>/<action>`` is the control plane (mutate, truth,
faults, stats, reset) so another process can drive a simulator started by
:func:`serve_forever`.

Vendors plug in generically: a module in this package defines a :class:`VendorSim`
subclass decorated with :func:`register`; :func:`discover` imports every module of the
package, so adding a vendor never touches this file.
"""
from __future__ import annotations

import importlib
import logging
import math
import pkgutil
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, ClassVar
from urllib.parse import parse_qs, urlsplit

import orjson

from nexus_sync.simulator import data

log = logging.getLogger(__name__)

DEFAULT_SIZE = 1000
CONTROL_PREFIX = "_sim"
_NOT_VENDOR_MODULES = {"server", "data"}

# ---------------------------------------------------------------- registry

_REGISTRY: dict[str, type["VendorSim"]] = {}
_discovered = False
_discover_lock = threading.Lock()


def register(cls: type["VendorSim"]) -> type["VendorSim"]:
    """Class decorator: make a VendorSim subclass served under ``/<cls.name>``."""
    if not getattr(cls, "name", None):
        raise TypeError(f"{cls.__name__} needs a `name` (its URL prefix)")
    _REGISTRY[cls.name] = cls
    return cls


def discover() -> dict[str, type["VendorSim"]]:
    """Import every vendor module of this package once; returns name → VendorSim class."""
    global _discovered
    with _discover_lock:
        if not _discovered:
            package = sys.modules[__package__]
            for info in pkgutil.iter_modules(package.__path__):
                if info.name.startswith("_") or info.name in _NOT_VENDOR_MODULES:
                    continue
                importlib.import_module(f"{__package__}.{info.name}")
            _discovered = True
    return dict(sorted(_REGISTRY.items()))


def vendor_names() -> list[str]:
    return list(discover())


# ---------------------------------------------------------------- config

def _default_sizes() -> dict[str, int]:
    return {name: DEFAULT_SIZE for name in discover()}


def _default_credentials() -> dict[str, dict]:
    return {name: dict(cls.default_credentials) for name, cls in discover().items()}


def _default_rate_limits() -> dict[str, int]:
    return {name: cls.default_rate_limit for name, cls in discover().items()}


@dataclass
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0 = pick a free port
    seed: int = 42
    # records per vendor; a vendor missing here gets DEFAULT_SIZE
    sizes: dict[str, int] = field(default_factory=_default_sizes)
    # accepted credentials per vendor; a vendor missing here gets its module's defaults
    credentials: dict[str, dict] = field(default_factory=_default_credentials)
    token_ttl: int = 1799  # OAuth token lifetime (s) for vendors that issue tokens
    # requests per minute per vendor; over → 429 with the vendor's own headers
    rate_limit: dict[str, int] = field(default_factory=_default_rate_limits)


# ---------------------------------------------------------------- request / response

class BadRequest(Exception):
    """Raised by a route for a client error: the vendor's 400 answer with this message."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Request:
    method: str
    path: str  # vendor-relative: "/devices/queries/devices/v1"
    query: dict[str, list[str]]
    raw_query: str
    headers: Any  # email.message.Message: case-insensitive .get()
    body: bytes
    base_url: str  # this vendor's base as the client addressed it: http://host:port/okta
    started: float = field(default_factory=time.perf_counter)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def int_arg(self, name: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
        raw = self.arg(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"invalid value for {name}: {raw!r} (expected an integer)") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f"{lo if lo is not None else '-inf'}..{hi if hi is not None else 'inf'}"
            raise BadRequest(f"{name} must be in {bounds}, got {value}")
        return value

    def json(self) -> Any:
        try:
            return orjson.loads(self.body or b"null")
        except orjson.JSONDecodeError:
            raise BadRequest("request body is not valid JSON") from None

    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    @property
    def url(self) -> str:
        return self.base_url + self.path + (f"?{self.raw_query}" if self.raw_query else "")


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"
    abort: str | None = None  # fault injection: "reset" (RST, no answer) or "truncate" (half a body)

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def json_response(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, orjson.dumps(obj), list(headers or []))


# ---------------------------------------------------------------- rate limiting

class RateLimiter:
    """Requests per ``window`` seconds: sliding (timestamps) or fixed (aligned windows)."""

    def __init__(self, limit: int, window: float = 60.0, sliding: bool = True):
        self.limit = max(1, int(limit))
        self.window = window
        self.sliding = sliding
        self._hits: deque[float] = deque()
        self._window_start = 0.0
        self._count = 0
        self._lock = threading.Lock()

    def _roll(self, now: float) -> None:
        if self.sliding:
            edge = now - self.window
            while self._hits and self._hits[0] <= edge:
                self._hits.popleft()
        else:
            start = math.floor(now / self.window) * self.window
            if start != self._window_start:
                self._window_start, self._count = start, 0

    def _state(self, now: float) -> tuple[int, float]:
        if self.sliding:
            used = len(self._hits)
            reset = (self._hits[0] + self.window) if self._hits else now + self.window
        else:
            used = self._count
            reset = self._window_start + self.window
        return max(0, self.limit - used), reset

    def hit(self, now: float | None = None) -> tuple[bool, int, float]:
        """Count one request: (allowed, remaining after it, epoch when capacity frees up)."""
        now = time.time() if now is None else now
        with self._lock:
            self._roll(now)
            remaining, reset = self._state(now)
            if remaining <= 0:
                return False, 0, reset
            if self.sliding:
                self._hits.append(now)
            else:
                self._count += 1
            remaining, reset = self._state(now)
            return True, remaining, reset

    def peek(self, now: float | None = None) -> tuple[int, float]:
        now = time.time() if now is None else now
        with self._lock:
            self._roll(now)
            return self._state(now)

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()
            self._count = 0


# ---------------------------------------------------------------- vendor base class

FAULT_DEFAULTS: dict[str, Any] = {
    "rate_limit_every": 0,  # every Nth data request → 429 with the vendor's headers
    "retry_after_seconds": 2.0,  # ... whose reset lies this far ahead
    "error_5xx_every": 0,  # every Nth data request → 503
    "token_expire_after_requests": 0,  # token-issuing vendors: a token dies after N data requests → 401
    "slow_ms": 0,  # delay every response
    "malformed_every": 0,  # every Nth data request → 200 with truncated JSON
    "broken_paths": [],  # these (vendor-relative) paths always answer 500
    # probabilistic faults for chaos runs: each data request draws once from a seeded RNG
    "rate_limit_rate": 0.0,  # → 429 with the vendor's headers
    "error_5xx_rate": 0.0,  # → 503
    "timeout_rate": 0.0,  # → no answer for timeout_seconds (clients with a shorter timeout give up)
    "timeout_seconds": 10.0,
    "reset_rate": 0.0,  # → the TCP connection is reset, no answer at all
    "truncated_rate": 0.0,  # → the body stops half way and the connection closes
    "malformed_rate": 0.0,  # → 200 with broken JSON
}
_RATE_FAULTS = ("rate_limit_rate", "error_5xx_rate", "timeout_rate", "reset_rate", "truncated_rate",
                "malformed_rate")


def route(method: str, pattern: str, *, data_request: bool = True) -> Callable:
    """Mark a VendorSim method as the handler of ``method`` + vendor-relative path regex.

    Named groups become keyword arguments. ``data_request=False`` for auth endpoints:
    no auth check, no per-minute limit, no injected faults (except slow/broken paths).
    """

    def deco(fn: Callable) -> Callable:
        fn._sim_route = (method.upper(), re.compile(f"^{pattern}$"), data_request)
        return fn

    return deco


class VendorSim:
    """One simulated vendor. Subclasses set the class attributes and add @route methods."""

    name: ClassVar[str] = ""
    id_field: ClassVar[str] = "id"
    default_credentials: ClassVar[dict] = {}
    default_rate_limit: ClassVar[int] = 600
    sliding_window: ClassVar[bool] = True  # False: fixed per-minute windows
    extra_knobs: ClassVar[dict[str, Any]] = {}  # vendor-specific set_faults knobs and defaults
    _routes: ClassVar[list[tuple[str, re.Pattern, bool, str]]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        routes = []
        for klass in reversed(cls.__mro__):
            for attr, fn in vars(klass).items():
                spec = getattr(fn, "_sim_route", None)
                if spec:
                    routes = [r for r in routes if r[3] != attr]
                    routes.append((*spec, attr))
        cls._routes = routes

    def __init__(self, sim: "Simulator"):
        self.sim = sim
        cfg = sim.config
        self.seed = cfg.seed
        self.size = int(cfg.sizes.get(self.name, DEFAULT_SIZE))
        self.credentials = {**self.default_credentials, **(cfg.credentials.get(self.name) or {})}
        self.lock = threading.RLock()
        self.limiter = RateLimiter(cfg.rate_limit.get(self.name, self.default_rate_limit), sliding=self.sliding_window)
        self.load()
        self.reset_faults()
        self.reset_stats()

    # ---- data -----------------------------------------------------------

    def generate(self) -> tuple[dict, ...]:
        """The round-0 dataset (shared, read-only). Override to generate in the vendor module."""
        return data.records(self.name, self.seed, self.size)

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """A changed *copy* of ``record`` (never edit in place: datasets are shared)."""
        return data.MUTATORS[self.name](record, rng, round_no)

    def load(self) -> None:
        """(Re)load round 0."""
        recs = self.generate()
        with self.lock:
            self.order: list[str] = [r[self.id_field] for r in recs]
            self.position: dict[str, int] = {rid: i for i, rid in enumerate(self.order)}
            self.records: dict[str, dict] = dict(zip(self.order, recs))
            if len(self.records) != len(recs):
                raise ValueError(f"{self.name}: duplicate ids in generated data")
            self.round = 0
            self.version = getattr(self, "version", 0) + 1  # bumps on every data change
            self.on_data_changed()

    def on_data_changed(self) -> None:
        """Hook: drop caches derived from the records."""

    def mutate(self, fraction: float) -> tuple[list[str], int]:
        """Change round(fraction * size) records; deterministic from (seed, vendor, round)."""
        fraction = float(fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be within 0..1")
        with self.lock:
            self.round += 1
            rng = data.vendor_rng(self.seed, self.name, "mutate", self.round)
            k = round(fraction * len(self.order))
            chosen = sorted(rng.sample(range(len(self.order)), k))
            ids = [self.order[i] for i in chosen]
            for rid in ids:
                new = self.mutate_record(self.records[rid], rng, self.round)
                if new.get(self.id_field) != rid:
                    raise AssertionError(f"{self.name}: a mutation changed an id")
                self.records[rid] = new
            self.version += 1
            self.on_data_changed()
            return ids, self.round

    def render(self, obj: Any) -> bytes:
        """JSON bytes of a served body. Override to post-process (e.g. absolute links)."""
        return orjson.dumps(obj)

    def truth_bytes(self) -> bytes:
        """JSON object id → record, exactly as served now."""
        with self.lock:
            snapshot = {rid: self.records[rid] for rid in self.order}
        return self.render(snapshot)

    def truth(self) -> dict[str, dict]:
        """id → record exactly as served now (a private copy)."""
        return orjson.loads(self.truth_bytes())

    # ---- faults / stats -------------------------------------------------

    def reset_faults(self) -> None:
        with self.lock:
            self.faults: dict[str, Any] = {**FAULT_DEFAULTS, "broken_paths": [], **self.extra_knobs}
            self.fault_counter = 0

    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        allowed = {**FAULT_DEFAULTS, **self.extra_knobs}
        unknown = sorted(set(knobs) - set(allowed))
        if unknown:
            raise ValueError(f"unknown fault knob(s) for {self.name}: {unknown}; known: {sorted(allowed)}")
        clean: dict[str, Any] = {}
        for key, value in knobs.items():
            default = allowed[key]
            if isinstance(default, list):
                if value is None:
                    value = []
                if isinstance(value, str):
                    value = [value]
                clean[key] = [self._normalize_path(str(p)) for p in value]
            elif isinstance(default, float):
                clean[key] = float(value or 0)
            else:
                clean[key] = int(value or 0)
            if not isinstance(default, list) and clean[key] < 0:
                raise ValueError(f"{key} must be >= 0")
        with self.lock:
            self.faults.update(clean)
            self.fault_counter = 0  # "every Nth" counts from the moment the knobs are set
            self.on_faults_changed()
            return dict(self.faults)

    def on_faults_changed(self) -> None:
        """Hook: restart vendor-specific fault counters."""

    def _normalize_path(self, path: str) -> str:
        path = "/" + path.lstrip("/")
        prefix = f"/{self.name}/"
        return path[len(prefix) - 1:] if path.startswith(prefix) else path

    def reset_stats(self) -> None:
        with self.lock:
            self.stats: dict[str, Any] = {
                "total": 0,
                "data_requests": 0,
                "by_path": {},
                "by_status": {},
                "served_429": 0,
                "served_401": 0,
                "faults": {"rate_limit": 0, "error_5xx": 0, "token_expired": 0, "malformed": 0,
                           "broken_path": 0, "slow": 0},
            }

    def count_fault(self, kind: str) -> None:
        with self.lock:
            self.stats["faults"][kind] = self.stats["faults"].get(kind, 0) + 1

    def get_stats(self) -> dict[str, Any]:
        with self.lock:
            out = orjson.loads(orjson.dumps(self.stats))
        out.update(round=self.round, size=len(self.order), faults_active={
            k: v for k, v in self.faults.items() if v and k in FAULT_DEFAULTS and k != "retry_after_seconds"})
        return out

    def reset(self) -> None:
        """Round 0, faults off, counters and rate-limit windows cleared."""
        self.load()
        self.reset_faults()
        self.reset_stats()
        self.limiter.clear()

    # ---- vendor dialect hooks (override) ----------------------------------

    def authenticate(self, req: Request) -> Response | None:
        """None if the request may proceed, else the vendor's 401."""
        return None

    def error(self, status: int, message: str) -> Response:
        """The vendor's error body for ``status``."""
        return json_response(status, {"error": message})

    def rate_limit_headers(self, limit: int, remaining: int, reset_epoch: float) -> list[tuple[str, str]]:
        return []

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        resp = self.error(429, "rate limit exceeded")
        resp.headers.extend(self.rate_limit_headers(limit, 0, reset_epoch))
        return resp

    # ---- request pipeline ---------------------------------------------------

    def _match(self, method: str, path: str) -> tuple[Callable | None, bool, dict[str, str], bool]:
        path_known = False
        for m, rx, is_data, attr in self._routes:
            mt = rx.match(path)
            if mt:
                path_known = True
                if m == method:
                    return getattr(self, attr), is_data, mt.groupdict(), True
        return None, False, {}, path_known

    @staticmethod
    def _every(n: int, counter: int) -> bool:
        return n > 0 and counter % n == 0

    def handle(self, req: Request) -> Response:
        faults = self.faults
        with self.lock:
            st = self.stats
            st["total"] += 1
            st["by_path"][req.path] = st["by_path"].get(req.path, 0) + 1
        if faults["slow_ms"]:
            self.count_fault("slow")
            time.sleep(faults["slow_ms"] / 1000.0)
        try:
            if req.path in faults["broken_paths"]:
                self.count_fault("broken_path")
                resp = self.error(500, "internal server error")
            else:
                fn, is_data, params, path_known = self._match(req.method, req.path)
                if fn is None:
                    resp = self.error(405 if path_known else 404,
                                      "method not allowed" if path_known else f"no such endpoint: {req.path}")
                elif not is_data:
                    resp = fn(req, **params)
                else:
                    resp = self._handle_data(req, fn, params)
        except BadRequest as exc:
            resp = self.error(exc.status, exc.message)
        except Exception as exc:  # a simulator bug must still answer, loudly
            log.exception("simulator %s: %s %s failed", self.name, req.method, req.path)
            resp = self.error(500, f"simulator error: {exc!r}")
        if not any(k.lower().startswith(("x-ratelimit", "x-rate-limit")) for k, _ in resp.headers):
            remaining, reset = self.limiter.peek()
            resp.headers.extend(self.rate_limit_headers(self.limiter.limit, remaining, reset))
        with self.lock:
            st = self.stats
            key = str(resp.status)
            st["by_status"][key] = st["by_status"].get(key, 0) + 1
            if resp.status == 429:
                st["served_429"] += 1
            elif resp.status == 401:
                st["served_401"] += 1
        return resp

    def _draw_fault(self) -> str | None:
        faults = self.faults
        if not any(faults[k] for k in _RATE_FAULTS):
            return None
        with self.lock:
            if not hasattr(self, "fault_rng"):
                self.fault_rng = random.Random(f"{self.sim.config.seed}:{self.name}:faults")
            x = self.fault_rng.random()
        for knob in _RATE_FAULTS:
            x -= faults[knob]
            if x < 0:
                return knob
        return None

    def _handle_data(self, req: Request, fn: Callable, params: dict[str, str]) -> Response:
        faults = self.faults
        denied = self.authenticate(req)
        if denied is not None:
            return denied
        allowed, remaining, reset = self.limiter.hit()
        limit = self.limiter.limit
        if not allowed:
            return self.too_many_requests(limit, reset)
        with self.lock:
            self.stats["data_requests"] += 1
            self.fault_counter += 1
            n = self.fault_counter
        drawn = self._draw_fault()
        if drawn == "rate_limit_rate":
            self.count_fault("rate_limit")
            return self.too_many_requests(limit, time.time() + faults["retry_after_seconds"])
        if drawn == "error_5xx_rate":
            self.count_fault("error_5xx")
            return self.error(503, "service unavailable")
        if drawn == "timeout_rate":
            self.count_fault("timeout")
            time.sleep(faults["timeout_seconds"])
            return self.error(504, "gateway timeout")
        if drawn == "reset_rate":
            self.count_fault("reset")
            return Response(0, abort="reset")
        if self._every(faults["rate_limit_every"], n):
            self.count_fault("rate_limit")
            return self.too_many_requests(limit, time.time() + faults["retry_after_seconds"])
        if self._every(faults["error_5xx_every"], n):
            self.count_fault("error_5xx")
            resp = self.error(503, "service unavailable")
        else:
            resp = fn(req, **params)
            if resp.status == 200 and resp.body and (self._every(faults["malformed_every"], n)
                                                     or drawn == "malformed_rate"):
                self.count_fault("malformed")
                resp.body = resp.body[: max(1, len(resp.body) // 2)]
            elif resp.status == 200 and resp.body and drawn == "truncated_rate":
                self.count_fault("truncated")
                resp.abort = "truncate"
        resp.headers.extend(self.rate_limit_headers(limit, remaining, reset))
        return resp


# ---------------------------------------------------------------- the HTTP server

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], simulator: "Simulator"):
        self.simulator = simulator
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Drop kept-alive client connections so no handler thread outlives stop()."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: connectors reuse their session's connections
    server_version = "nexus-sim/0.1"
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections are closed after this
    server: _Server

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        try:
            resp = self.server.simulator.dispatch(self.command, split.path, split.query, self.headers, body)
        except Exception as exc:
            log.exception("simulator dispatch failed")
            resp = json_response(500, {"error": f"simulator error: {exc!r}"})
        if resp.abort == "reset":  # RST instead of an answer
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        for k, v in resp.headers:
            self.send_header(k, v)
        self.end_headers()
        if resp.abort == "truncate":  # promise the whole body, send half, hang up
            self.wfile.write(resp.body[: len(resp.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if resp.body:
            self.wfile.write(resp.body)


class Simulator:
    """Serves every registered vendor; see the module docstring."""

    def __init__(self, config: SimConfig | None = None):
        self.config = config or SimConfig()
        self._vendor_classes = discover()
        for knob in ("sizes", "credentials", "rate_limit"):
            unknown = sorted(set(getattr(self.config, knob) or {}) - set(self._vendor_classes))
            if unknown:
                raise ValueError(f"SimConfig.{knob}: unknown vendor(s) {unknown}; simulated: {sorted(self._vendor_classes)}")
        self._server = _Server((self.config.host, self.config.port), self)
        host, port = self._server.server_address[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self.port: int = port
        self.url: str = f"http://{shown}:{port}"
        self._thread: threading.Thread | None = None
        try:
            self.vendors: dict[str, VendorSim] = {name: cls(self) for name, cls in self._vendor_classes.items()}
        except BaseException:
            self._server.server_close()
            raise

    # ---- lifecycle

    def start(self) -> "Simulator":
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                            name=f"nexus-sim:{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.close_connections()
        self._server.server_close()

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- Python API

    def vendor(self, vendor: str) -> VendorSim:
        try:
            return self.vendors[vendor]
        except KeyError:
            raise ValueError(f"unknown vendor {vendor!r}; simulated: {sorted(self.vendors)}") from None

    def base_url(self, vendor: str) -> str:
        self.vendor(vendor)
        return f"{self.url}/{vendor}"

    def mutate(self, vendor: str, fraction: float) -> list[str]:
        return self.vendor(vendor).mutate(fraction)[0]

    def truth(self, vendor: str) -> dict[str, dict]:
        return self.vendor(vendor).truth()

    def set_faults(self, vendor: str, **faults: Any) -> None:
        self.vendor(vendor).set_faults(**faults)

    def stats(self, vendor: str) -> dict[str, Any]:
        return self.vendor(vendor).get_stats()

    def reset(self, vendor: str) -> None:
        self.vendor(vendor).reset()

    def describe(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "seed": self.config.seed,
            "vendors": {
                name: {"base_url": self.base_url(name), "size": len(v.order), "round": v.round,
                       "credentials": dict(v.credentials), "rate_limit_per_minute": v.limiter.limit}
                for name, v in self.vendors.items()
            },
            "control": f"{self.url}/{CONTROL_PREFIX}/{{vendor}}/{{mutate|truth|faults|stats|reset}}",
        }

    # ---- HTTP dispatch

    def dispatch(self, method: str, path: str, raw_query: str, headers: Any, body: bytes) -> Response:
        parts = path.split("/", 2)  # "", first segment, rest
        first = parts[1] if len(parts) > 1 else ""
        if first == CONTROL_PREFIX:
            return self._control(method, path, body)
        vendor = self.vendors.get(first)
        if vendor is None:
            return json_response(404, {"error": f"no simulated vendor at /{first}",
                                       "vendors": {n: self.base_url(n) for n in self.vendors}})
        host = headers.get("Host") or self.url.split("//", 1)[1]
        req = Request(method=method.upper(), path="/" + (parts[2] if len(parts) > 2 else ""),
                      query=parse_qs(raw_query, keep_blank_values=True), raw_query=raw_query,
                      headers=headers, body=body, base_url=f"http://{host}/{first}")
        return vendor.handle(req)

    def _control(self, method: str, path: str, body: bytes) -> Response:
        parts = [p for p in path.split("/") if p][1:]
        if not parts:
            return json_response(200, self.describe())
        if len(parts) != 2:
            return json_response(404, {"error": "use /_sim/{vendor}/{mutate|truth|faults|stats|reset}"})
        name, action = parts
        if name not in self.vendors:
            return json_response(404, {"error": f"unknown vendor {name!r}", "vendors": sorted(self.vendors)})
        vendor = self.vendors[name]
        try:
            payload = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError:
            return json_response(400, {"error": "body is not valid JSON"})
        if not isinstance(payload, dict):
            return json_response(400, {"error": "body must be a JSON object"})
        try:
            if action == "mutate" and method == "POST":
                ids, round_no = vendor.mutate(payload.get("fraction", 0.1))
                return json_response(200, {"changed": len(ids), "round": round_no, "ids": ids})
            if action == "truth" and method == "GET":
                return Response(200, b'{"records":' + vendor.truth_bytes() + b"}")
            if action == "faults" and method == "POST":
                return json_response(200, {"faults": vendor.set_faults(**payload)})
            if action == "faults" and method == "GET":
                return json_response(200, {"faults": vendor.faults})
            if action == "stats" and method == "GET":
                return json_response(200, vendor.get_stats())
            if action == "reset" and method == "POST":
                vendor.reset()
                return json_response(200, {"reset": name, "round": vendor.round})
        except (ValueError, TypeError) as exc:
            return json_response(400, {"error": str(exc)})
        return json_response(404 if action not in {"mutate", "truth", "faults", "stats", "reset"} else 405,
                             {"error": f"{method} /_sim/{name}/{action} is not a control action"})


def serve_forever(config: SimConfig) -> None:
    """Blocking: serve until SIGTERM/SIGINT (for `nexus-sync simulator serve`)."""
    sim = Simulator(config).start()
    stop = threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    info = sim.describe()
    print(f"nexus-sync vendor simulator listening on {sim.url} (seed {config.seed})", flush=True)
    for name, v in info["vendors"].items():
        creds = " ".join(f"{k}={val}" for k, val in v["credentials"].items())
        print(f"  {name:<14} {v['base_url']:<40} {v['size']:>7} records  {creds}", flush=True)
    print(f"  control: {info['control']}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("nexus-sync vendor simulator stopped", flush=True)
