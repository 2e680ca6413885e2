"""CrowdStrike Falcon hosts, as in ../shared/vendor-apis.md §1.

Served under ``/crowdstrike``:

* ``POST /oauth2/token`` (form ``client_id``, ``client_secret``) → 201 bearer token that
  lives ``token_ttl`` seconds; ``POST /oauth2/revoke`` (form ``token``).
* ``GET /devices/queries/devices/v1`` offset/limit (1..5000) id query, ``offset + limit``
  capped at 10,000 (beyond → 400: use the scroll endpoint), FQL ``filter``, ``sort``.
* ``GET /devices/queries/devices-scroll/v1`` opaque-token scroll, limit 1..10000, tokens
  die after 2 min idle.
* Hidden hosts (``hide_host``: a host deleted from the console) are left out of both queries above;
  ``GET /devices/queries/devices-hidden/v1`` (offset/limit 1..5000, filter, sort, the same 10,000 window)
  lists only them. Their details carry ``"host_hidden_status": "hidden"``.
* ``POST /devices/entities/devices/v2`` ``{"ids": [...]}`` (≤ 5000) and
  ``GET /devices/entities/devices/v2?ids=..`` (≤ 100; v1 GET too) → host objects.

Envelope ``{"meta": {"query_time", "pagination", "powered_by", "trace_id"}, "resources",
"errors"}``; every response has ``X-Ratelimit-Limit`` / ``X-Ratelimit-Remaining``; a 429
adds ``X-Ratelimit-Retryafter`` = epoch seconds when the window frees up (6000/min sliding).
"""
from __future__ import annotations

import fnmatch
import math
import random
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from connectors.crowdstrike.simdata import mutate_crowdstrike  # also registers the hosts' generator
from nexus_sync.simulator import BadRequest, Request, Response, SimHost, VendorSim, data, json_response, register, route

QUERY_MAX_LIMIT = 5000  # the plain and the hidden-hosts id queries alike
QUERY_WINDOW = 10_000  # offset + limit must stay within this (the "about 10k" ceiling)
SCROLL_MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100
POST_MAX_IDS = 5000
GET_MAX_IDS = 100
SCROLL_IDLE_SECONDS = 120.0
_TIMESTAMP_FIELDS = {"first_seen", "last_seen", "modified_timestamp", "agent_local_time"}
_FQL_CLAUSE = re.compile(
    r"""^\s*(?P<field>[A-Za-z_][A-Za-z0-9_.]*)\s*:\s*(?P<op>>=|<=|>|<|!)?\s*"""
    r"""(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<bare>[^'"\s]+))\s*$""")
_SORT = re.compile(r"^\s*(?P<field>[A-Za-z_][A-Za-z0-9_]*)\s*(?:[.|](?P<dir>asc|desc))?\s*$", re.I)


@dataclass
class _Token:
    issued: float
    expires: float
    uses: int = 0


@dataclass
class _Scroll:
    ids: list[str]
    last_used: float
    tokens: list[str] = field(default_factory=list)


@register
class CrowdStrikeSim(VendorSim):
    name = "crowdstrike"
    id_field = "device_id"
    default_credentials = {"client_id": "sim-client", "client_secret": "sim-secret"}
    default_rate_limit = 6000
    sliding_window = True  # "6,000 req/min per customer account (sliding window)"
    extra_knobs = {"scroll_ttl_seconds": SCROLL_IDLE_SECONDS}

    def __init__(self, sim: SimHost):
        self.tokens: dict[str, _Token] = {}
        self.scrolls: dict[str, _Scroll] = {}
        self.scroll_tokens: dict[str, tuple[str, int]] = {}  # token → (scroll id, position)
        self._select_cache: dict[tuple[str, str, int, bool], list[str]] = {}
        self._state_lock = threading.Lock()
        super().__init__(sim)

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        return mutate_crowdstrike(record, rng, round_no)

    def on_data_changed(self) -> None:
        self._select_cache = {}

    def on_faults_changed(self) -> None:
        # token_expire_after_requests counts each token's requests from the moment it is set
        with self._state_lock:
            for tok in self.tokens.values():
                tok.uses = 0

    def reset(self) -> None:
        super().reset()
        with self._state_lock:
            self.scrolls.clear()
            self.scroll_tokens.clear()

    # ---- dialect ------------------------------------------------------------

    def _meta(self, req: Request | None = None, pagination: dict | None = None) -> dict:
        meta: dict[str, Any] = {
            "query_time": round(time.perf_counter() - req.started, 9) if req else 0.000123,
            "powered_by": "device-api",
            "trace_id": str(uuid.uuid4()),
        }
        if pagination is not None:
            meta["pagination"] = pagination
        return meta

    def envelope(self, req: Request, resources: list, *, pagination: dict | None = None,
                 errors: list | None = None, status: int = 200) -> Response:
        meta = self._meta(req, pagination)
        body = {"meta": meta, "resources": resources, "errors": errors or []}
        return Response(status, self.render(body), [("X-Cs-Traceid", meta["trace_id"])])

    def error(self, status: int, message: str) -> Response:
        meta = self._meta()
        body: dict[str, Any] = {"meta": meta}
        if status in (400, 404):
            body["resources"] = []
        body["errors"] = [{"code": status, "message": message}]
        return Response(status, self.render(body), [("X-Cs-Traceid", meta["trace_id"])])

    def rate_limit_headers(self, limit: int, remaining: int, reset_epoch: float) -> list[tuple[str, str]]:
        return [("X-Ratelimit-Limit", str(limit)), ("X-Ratelimit-Remaining", str(remaining))]

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        resp = self.error(429, "API rate limit exceeded.")
        resp.headers += [("X-Ratelimit-Limit", str(limit)), ("X-Ratelimit-Remaining", "0"),
                         # epoch seconds, not a duration (vendor-apis.md §1)
                         ("X-Ratelimit-Retryafter", str(math.ceil(reset_epoch)))]
        return resp

    # ---- auth -----------------------------------------------------------------

    @route("POST", "/oauth2/token", data_request=False)
    def oauth2_token(self, req: Request) -> Response:
        form = req.form()
        client_id = form.get("client_id") or req.arg("client_id")
        client_secret = form.get("client_secret") or req.arg("client_secret")
        if (client_id, client_secret) != (self.credentials.get("client_id"), self.credentials.get("client_secret")):
            return self.error(401, "Failed to issue access token - Not Authorized")
        now = time.time()
        ttl = int(self.sim.config.token_ttl)
        token = secrets.token_urlsafe(96)
        with self._state_lock:
            self.tokens = {t: v for t, v in self.tokens.items() if v.expires > now}  # forget dead ones
            self.tokens[token] = _Token(issued=now, expires=now + ttl)
        resp = json_response(201, {"access_token": token, "token_type": "bearer", "expires_in": ttl})
        resp.headers.append(("X-Cs-Region", "us-1"))
        return resp

    @route("POST", "/oauth2/revoke", data_request=False)
    def oauth2_revoke(self, req: Request) -> Response:
        token = req.form().get("token", "")
        with self._state_lock:
            self.tokens.pop(token, None)
        return self.envelope(req, [])

    def authenticate(self, req: Request) -> Response | None:
        scheme, _, token = (req.headers.get("Authorization") or "").partition(" ")
        token = token.strip()
        ok = scheme.lower() == "bearer" and bool(token)
        expired_by_fault = False
        if ok:
            now = time.time()
            limit = int(self.faults.get("token_expire_after_requests") or 0)
            with self._state_lock:
                tok = self.tokens.get(token)
                if tok is None:
                    ok = False
                elif tok.expires <= now:
                    del self.tokens[token]
                    ok = False
                else:
                    tok.uses += 1
                    if limit and tok.uses > limit:
                        del self.tokens[token]  # the token "expires" mid-sync
                        ok, expired_by_fault = False, True
        if expired_by_fault:
            self.count_fault("token_expired")
        return None if ok else self.error(401, "access denied, authorization failed")

    # ---- selection (filter + sort) ---------------------------------------------

    def _predicate(self, fql: str) -> Callable[[dict], bool]:
        clauses = []
        for part in _split_fql(fql):
            m = _FQL_CLAUSE.match(part)
            if not m:
                raise BadRequest(f"Invalid filter: {part!r}")
            fld, op = m["field"], m["op"] or ""
            value = next(v for v in (m["sq"], m["dq"], m["bare"]) if v is not None)
            if fld in _TIMESTAMP_FIELDS:
                try:
                    value = data.iso_z(int(data.parse_iso(value).timestamp()))
                except ValueError:
                    raise BadRequest(f"Invalid timestamp in filter: {value!r}") from None
            clauses.append((fld, op, value))

        def pred(rec: dict) -> bool:
            for fld, op, value in clauses:
                have = rec.get(fld)
                if isinstance(have, list):
                    ok = any(isinstance(h, str) and fnmatch.fnmatchcase(h.lower(), value.lower()) for h in have)
                    if (op == "!" and ok) or (op != "!" and not ok):
                        return False
                    continue
                have = "" if have is None else str(have)
                if op == ">":
                    ok = have > value
                elif op == ">=":
                    ok = have >= value
                elif op == "<":
                    ok = have < value
                elif op == "<=":
                    ok = have <= value
                else:
                    ok = fnmatch.fnmatchcase(have.lower(), value.lower())
                    if op == "!":
                        ok = not ok
                if not ok:
                    return False
            return True

        return pred

    def select(self, fql: str, sort: str, hidden: bool = False) -> list[str]:
        """Matching ids of visible (or only hidden) hosts in stable order (or ``sort`` order); cached per
        data version."""
        fql, sort = (fql or "").strip(), (sort or "").strip()
        key = (fql, sort, self.version, hidden)
        hit = self._select_cache.get(key)
        if hit is not None:
            return hit
        with self.lock:
            order = list(self.order)
            records = dict(self.records)
            version = self.version
        pred = self._predicate(fql) if fql else None
        ids = [rid for rid in order if (records[rid].get("host_hidden_status") == "hidden") == hidden
               and (pred is None or pred(records[rid]))]
        if sort:
            m = _SORT.match(sort)
            if not m or (records and m["field"] not in next(iter(records.values()))):
                raise BadRequest(f"Invalid sort: {sort!r}")
            fld, desc = m["field"], (m["dir"] or "asc").lower() == "desc"
            ids = sorted(ids, key=lambda rid: str(records[rid].get(fld) or ""), reverse=desc)  # stable
        if len(self._select_cache) > 16:
            self._select_cache = {}
        self._select_cache[(fql, sort, version, hidden)] = ids
        return ids

    # ---- vendor events -------------------------------------------------------------

    def hide_hosts(self, count: int) -> list[str]:
        """`hide_host` on `count` visible hosts (deterministic per seed and round): out of the host queries,
        into the hidden-hosts query, `host_hidden_status` "hidden" and modified_timestamp now."""
        with self.lock:
            self.round += 1
            rng = data.vendor_rng(self.seed, self.name, "hide", self.round)
            visible = [rid for rid in self.order if self.records[rid].get("host_hidden_status") != "hidden"]
            ids = sorted(rng.sample(visible, min(count, len(visible))), key=self.position.__getitem__)
            ts = data.mutation_time(rng, self.round)
            for rid in ids:
                self.records[rid] = {**self.records[rid], "host_hidden_status": "hidden",
                                     "modified_timestamp": data.iso_z(ts)}
            self.version += 1
            self.on_data_changed()
            return ids

    # ---- id queries ----------------------------------------------------------------

    @route("GET", "/devices/queries/devices/v1")
    def query_devices(self, req: Request) -> Response:
        limit = req.int_arg("limit", DEFAULT_LIMIT, 1, QUERY_MAX_LIMIT)
        offset = req.int_arg("offset", 0, 0)
        if offset + limit > QUERY_WINDOW:
            raise BadRequest(f"offset + limit must be <= {QUERY_WINDOW} (got {offset} + {limit}); "
                             "use /devices/queries/devices-scroll/v1 to page beyond 10,000 hosts")
        ids = self.select(req.arg("filter", ""), req.arg("sort", ""))
        page = ids[offset: offset + limit]
        # meta.pagination.offset is where the NEXT page starts (request offset + ids returned):
        # falconpy samples/hosts/offset_vs_token.py loops `while offset < total` setting offset to
        # the returned meta.pagination.offset, and cartography's get_host_ids sends the returned
        # offset back until a page comes back empty. Both only terminate with this reading.
        return self.envelope(req, page, pagination={"offset": offset + len(page), "limit": limit,
                                                    "total": len(ids)})

    @route("GET", "/devices/queries/devices-hidden/v1")
    def query_hidden_devices(self, req: Request) -> Response:
        limit = req.int_arg("limit", DEFAULT_LIMIT, 1, QUERY_MAX_LIMIT)
        offset = req.int_arg("offset", 0, 0)
        if offset + limit > QUERY_WINDOW:
            raise BadRequest(f"offset + limit must be <= {QUERY_WINDOW} (got {offset} + {limit})")
        ids = self.select(req.arg("filter", ""), req.arg("sort", ""), hidden=True)
        page = ids[offset: offset + limit]
        return self.envelope(req, page, pagination={"offset": offset + len(page), "limit": limit, "total": len(ids)})

    @route("GET", "/devices/queries/devices-scroll/v1")
    def query_devices_scroll(self, req: Request) -> Response:
        limit = req.int_arg("limit", DEFAULT_LIMIT, 1, SCROLL_MAX_LIMIT)
        token = req.arg("offset") or ""
        now = time.monotonic()
        ttl = float(self.faults.get("scroll_ttl_seconds", SCROLL_IDLE_SECONDS))
        with self._state_lock:
            self._expire_scrolls(now, ttl)
            if token:
                where = self.scroll_tokens.get(token)
                session = self.scrolls.get(where[0]) if where else None
                if where is None or session is None:
                    raise BadRequest("invalid or expired offset token: scroll tokens expire after "
                                     f"{ttl:g}s idle; start again without offset")
                sid, pos = where
            else:
                session = None
        if session is None:
            ids = list(self.select(req.arg("filter", ""), req.arg("sort", "")))  # point-in-time snapshot
            sid, pos = uuid.uuid4().hex, 0
            session = _Scroll(ids=ids, last_used=now)
            with self._state_lock:
                self.scrolls[sid] = session
        page = session.ids[pos: pos + limit]
        # Every page that returned ids carries a token for the next one, the last page included
        # (clients stop on len(ids) >= total, like falconpy's offset_vs_token.py and common
        # inventory scripts); the page after the end is empty and carries "" as its token, so a
        # client stopping on "no resources" or on "no token" terminates as well.
        next_token = ""
        with self._state_lock:
            session.last_used = now
            if page:
                next_token = secrets.token_urlsafe(48)
                self.scroll_tokens[next_token] = (sid, pos + len(page))
                session.tokens.append(next_token)
        return self.envelope(req, page, pagination={"offset": next_token, "limit": limit,
                                                    "total": len(session.ids)})

    def _expire_scrolls(self, now: float, ttl: float) -> None:
        dead = [sid for sid, s in self.scrolls.items() if now - s.last_used > ttl]
        for sid in dead:
            for tok in self.scrolls.pop(sid).tokens:
                self.scroll_tokens.pop(tok, None)

    # ---- details -------------------------------------------------------------------

    def _details(self, req: Request, ids: list[str]) -> Response:
        seen: set[str] = set()
        resources, errors = [], []
        with self.lock:
            records = self.records
            for rid in ids:
                if rid in seen:
                    continue
                seen.add(rid)
                rec = records.get(rid)
                if rec is None:
                    errors.append({"code": 404, "message": f"Device not found: {rid}", "id": rid})
                else:
                    resources.append(rec)
        return self.envelope(req, resources, errors=errors)

    @route("POST", "/devices/entities/devices/v2")
    def device_details_post(self, req: Request) -> Response:
        body = req.json()
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise BadRequest('body must be {"ids": ["<device_id>", ...]}')
        if not ids:
            raise BadRequest("ids must not be empty")
        if len(ids) > POST_MAX_IDS:
            raise BadRequest(f"at most {POST_MAX_IDS} ids per request (got {len(ids)})")
        return self._details(req, ids)

    @route("GET", "/devices/entities/devices/v(?:1|2)")
    def device_details_get(self, req: Request) -> Response:
        ids = [i.strip() for raw in req.args("ids") for i in raw.split(",") if i.strip()]
        if not ids:
            raise BadRequest("ids is required")
        if len(ids) > GET_MAX_IDS:
            raise BadRequest(f"at most {GET_MAX_IDS} ids per GET request (got {len(ids)}); "
                             "POST up to 5000 to /devices/entities/devices/v2")
        return self._details(req, ids)


def _split_fql(fql: str) -> list[str]:
    """Split an FQL filter on '+' (AND) outside quotes."""
    parts, buf, quote = [], [], ""
    for ch in fql:
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            buf.append(ch)
        elif ch == "+":
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return [p for p in (p.strip() for p in parts) if p]
