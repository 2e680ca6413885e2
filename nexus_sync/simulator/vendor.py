"""The base of every simulated vendor: its dataset, stats, dialect hooks and request pipeline.

A vendor's simulator (``connectors/<type>/simulator.py``) subclasses :class:`VendorSim`, marks its
endpoints with :func:`route` and registers the class with :func:`nexus_sync.simulator.register`.
"""
from __future__ import annotations

import logging
import random
import re
import threading
import time
from typing import Any, Callable, ClassVar, Protocol, TypeVar

import orjson

from nexus_sync.simulator.data import records, vendor_rng
from nexus_sync.simulator.faults import FaultKnobs, every
from nexus_sync.simulator.messages import BadRequest, Request, Response, json_response
from nexus_sync.simulator.ratelimit import RateLimiter

log = logging.getLogger(__name__)

DEFAULT_SIZE = 1000
_F = TypeVar("_F", bound=Callable[..., Any])
RouteSpec = tuple[str, "re.Pattern[str]", bool]  # method, vendor-relative path regex, data request?
RecordId = Any  # the vendor's own record id: a string for most vendors, an int for some (Rapid7 asset ids)


class SimSettings(Protocol):
    """What a vendor reads of the SimConfig it is served with."""

    @property
    def seed(self) -> int: ...

    @property
    def sizes(self) -> dict[str, int]: ...

    @property
    def credentials(self) -> dict[str, dict]: ...

    @property
    def rate_limit(self) -> dict[str, int]: ...

    @property
    def token_ttl(self) -> int: ...


class SimHost(Protocol):
    """What a vendor reads of the Simulator serving it (its config and its own URL)."""

    @property
    def config(self) -> SimSettings: ...

    @property
    def url(self) -> str: ...


def route(method: str, pattern: str, *, data_request: bool = True) -> Callable[[_F], _F]:
    """Mark a VendorSim method as the handler of ``method`` + vendor-relative path regex.

    Named groups become keyword arguments. ``data_request=False`` for auth endpoints:
    no auth check, no per-minute limit, no injected faults (except slow/broken paths).
    """

    def deco(fn: _F) -> _F:
        spec: RouteSpec = (method.upper(), re.compile(f"^{pattern}$"), data_request)
        setattr(fn, "_sim_route", spec)  # noqa: B010 - a function attribute read back by __init_subclass__
        return fn

    return deco


class VendorSim(FaultKnobs):
    """One simulated vendor. Subclasses set the class attributes and add @route methods."""

    name: ClassVar[str] = ""
    id_field: ClassVar[str] = "id"
    default_credentials: ClassVar[dict] = {}
    default_rate_limit: ClassVar[int] = 600
    sliding_window: ClassVar[bool] = True  # False: fixed per-minute windows
    _routes: ClassVar[list[tuple[str, re.Pattern[str], bool, str]]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        routes: list[tuple[str, re.Pattern[str], bool, str]] = []
        for klass in reversed(cls.__mro__):
            for attr, fn in vars(klass).items():
                spec = getattr(fn, "_sim_route", None)
                if spec:
                    routes = [r for r in routes if r[3] != attr]
                    routes.append((*spec, attr))
        cls._routes = routes

    def __init__(self, sim: SimHost):
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
        """The round-0 dataset (shared, read-only): from the generator the vendor registered (``data``)."""
        return records(self.name, self.seed, self.size)

    def record_id(self, record: dict) -> RecordId:
        """A record's id: its ``id_field`` (a vendor whose id is nested overrides)."""
        return record[self.id_field]

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """A changed *copy* of ``record`` (never edit in place: datasets are shared). Every vendor overrides."""
        raise NotImplementedError(f"{self.name}: the simulator defines no mutate_record")

    def load(self) -> None:
        """(Re)load round 0."""
        recs = self.generate()
        with self.lock:
            self.order: list[RecordId] = [self.record_id(r) for r in recs]
            self.position: dict[RecordId, int] = {rid: i for i, rid in enumerate(self.order)}
            self.records: dict[RecordId, dict] = dict(zip(self.order, recs))
            if len(self.records) != len(recs):
                raise ValueError(f"{self.name}: duplicate ids in generated data")
            self.round = 0
            self.version = getattr(self, "version", 0) + 1  # bumps on every data change
            self.on_data_changed()

    def on_data_changed(self) -> None:
        """Hook: drop caches derived from the records."""

    def mutate(self, fraction: float) -> tuple[list[RecordId], int]:
        """Change round(fraction * size) records; deterministic from (seed, vendor, round)."""
        fraction = float(fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("fraction must be within 0..1")
        with self.lock:
            self.round += 1
            rng = vendor_rng(self.seed, self.name, "mutate", self.round)
            k = round(fraction * len(self.order))
            chosen = sorted(rng.sample(range(len(self.order)), k))
            ids = [self.order[i] for i in chosen]
            for rid in ids:
                new = self.mutate_record(self.records[rid], rng, self.round)
                if self.record_id(new) != rid:
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

    # ---- stats ----------------------------------------------------------

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
        out.update(round=self.round, size=len(self.order), faults_active=self.active_faults())
        return out

    def base_url(self, http_url: str) -> str:
        """Where a connector reaches this vendor: the HTTP simulator's prefix `http_url`, unless the vendor
        serves elsewhere (Greenbone's GMP server over TLS)."""
        return http_url

    def connector_config(self) -> dict[str, Any]:
        """Hook: connector config a tool in another process needs besides the credentials to reach this vendor
        (Greenbone: its GMP address and the CA file of its self-signed certificate); served in `/_sim`."""
        return {}

    def close(self) -> None:
        """Hook: stop what the vendor serves besides HTTP (Greenbone's GMP server); Simulator.stop calls it."""

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

    def _match(self, method: str, path: str) -> tuple[Callable[..., Response] | None, bool, dict[str, str], bool]:
        path_known = False
        for m, rx, is_data, attr in self._routes:
            mt = rx.match(path)
            if mt:
                path_known = True
                if m == method:
                    return getattr(self, attr), is_data, mt.groupdict(), True
        return None, False, {}, path_known

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

    def _handle_data(self, req: Request, fn: Callable[..., Response], params: dict[str, str]) -> Response:
        denied = self.authenticate(req)
        if denied is not None:
            return denied
        allowed, remaining, reset = self.limiter.hit()
        limit = self.limiter.limit
        if not allowed:
            return self.too_many_requests(limit, reset)
        with self.lock:
            self.stats["data_requests"] += 1
        n = self.next_request()
        drawn = self.draw_fault()
        refused = self._refuse(drawn, n, limit)
        if refused is not None:
            return refused
        if every(self.faults["error_5xx_every"], n):
            self.count_fault("error_5xx")
            resp = self.error(503, "service unavailable")
        else:
            resp = fn(req, **params)
            self._damage(resp, drawn, n)
        resp.headers.extend(self.rate_limit_headers(limit, remaining, reset))
        return resp

    def _refuse(self, drawn: str | None, n: int, limit: int) -> Response | None:
        """The injected answer that replaces the route's (drawn or "every Nth"), if any."""
        faults = self.faults
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
        if every(faults["rate_limit_every"], n):
            self.count_fault("rate_limit")
            return self.too_many_requests(limit, time.time() + faults["retry_after_seconds"])
        return None

    def _damage(self, resp: Response, drawn: str | None, n: int) -> None:
        """Break a good answer on the way out: half a JSON body, or a connection that hangs up mid-body."""
        if resp.status != 200 or not resp.body:
            return
        if every(self.faults["malformed_every"], n) or drawn == "malformed_rate":
            self.count_fault("malformed")
            resp.body = resp.body[: max(1, len(resp.body) // 2)]
        elif drawn == "truncated_rate":
            self.count_fault("truncated")
            resp.abort = "truncate"
