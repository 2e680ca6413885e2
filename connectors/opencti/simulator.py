"""OpenCTI indicators, as in ../shared/vendor-apis.md §17.

Served under ``/opencti``:

* ``POST /graphql`` ``{"query": "... indicators(first:, after:, filters:, orderBy:, orderMode:) {...}",
  "variables": {...}}`` → ``{"data": {"indicators": {"edges": [{"node": {...}}], "pageInfo":
  {startCursor, endCursor, hasNextPage, hasPreviousPage, globalCount}}}}``. Only the node fields the
  query selects are returned; an unknown field is a GraphQL validation error (400).
* Relay cursors are opaque (base64 of the last row's sort key), so paging is stable while data changes.
* ``filters`` is a FilterGroup ``{mode, filters: [{key, values, operator, mode}], filterGroups}``;
  operators eq/not_eq/gt/gte/lt/lte on the indicator's scalar fields.
* ``Authorization: Bearer <token>`` required: else 401 with a GraphQL ``AUTH_REQUIRED`` error (the
  HTTP status of that answer is our assumption). Rate limits are unconfirmed: 429 + ``Retry-After``.

``decay(fraction)`` is the platform's indicator score decay on some indicators: ``x_opencti_score`` drops
and the update moves ``modified`` / ``updated_at``; nothing else changes (issue 11, #10).
"""
from __future__ import annotations

import base64
import bisect
import math
import random
import re
import time
import uuid

import orjson

from nexus_sync.simulator import BadRequest, Request, Response, VendorSim, data, json_response, register, route

MAX_FIRST = 5000
DEFAULT_FIRST = 500
_NODE = re.compile(r"\bnode\s*\{([^{}]*)\}")
_OPS = {"eq": lambda a, b: a == b, "not_eq": lambda a, b: a != b, "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}
OBSERVABLES = [("Domain-Name", "domain-name:value", "{w}-{x}.example.net"), ("IPv4-Addr", "ipv4-addr:value", "203.0.113.{n}"),
               ("Url", "url:value", "https://{w}.example.org/{x}"), ("StixFile", "file:hashes.'SHA-256'", "{h}")]
WORDS = ["evil", "login", "secure", "update", "cdn", "mail", "portal", "pay", "drop", "c2", "beacon", "stage"]
TYPES = ["malicious-activity", "anomalous-activity", "compromised", "attribution", "benign"]


def _iso(ts: float) -> str:
    return data.iso_ms_z(int(ts), int(ts * 1000) % 1000)


@data.register_generator("opencti")
def generate_opencti(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "opencti", "records")
    out = []
    for _ in range(size):
        kind, path, shape = rng.pick(OBSERVABLES)
        value = shape.format(w=rng.pick(WORDS), x=rng.pick(WORDS), n=rng.between(1, 255),
                             h="%064x" % rng.getrandbits(256))
        created = rng.between(data.DATA_START, data.DATA_EPOCH - 2 * data.DAY) + rng.random()
        updated = created + rng.between(0, data.DAY)
        out.append({
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "standard_id": f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
            "entity_type": "Indicator", "name": value, "pattern": f"[{path} = '{value}']", "pattern_type": "stix",
            "valid_from": _iso(created), "valid_until": _iso(created + 90 * data.DAY),
            "x_opencti_score": rng.between(0, 101), "confidence": rng.pick([15, 50, 75, 85, 100]),
            "revoked": rng.random() < 0.05, "indicator_types": [rng.pick(TYPES)],
            "x_opencti_main_observable_type": kind, "created": _iso(created), "modified": _iso(updated),
            "created_at": _iso(created + 1), "updated_at": _iso(updated + 1),
        })
    return out


def _cursor(key: tuple) -> str:
    return base64.b64encode(orjson.dumps(list(key))).decode()


@register
class OpenCTISim(VendorSim):
    name = "opencti"
    id_field = "id"
    default_credentials = {"token": "sim-opencti-token"}
    default_rate_limit = 600

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        new = dict(record)
        new["x_opencti_score"] = rng.choice([s for s in (10, 35, 55, 70, 90) if s != record["x_opencti_score"]])
        new["confidence"] = rng.choice([15, 50, 75, 85, 100])
        new["revoked"] = record["revoked"] or rng.random() < 0.2
        ts = data.mutation_time(rng, round_no)
        new["valid_until"] = _iso(ts + 90 * data.DAY)
        new["modified"], new["updated_at"] = _iso(ts), _iso(ts + 1)
        return new

    def decay(self, fraction: float) -> list[str]:
        """Score decay of round(fraction * size) indicators that still have a score above 0, deterministic from
        (seed, round): the score drops by 5-30 points (not below 0), the update time moves. Returns their ids."""
        with self.lock:
            self.round += 1
            rng = data.vendor_rng(self.seed, self.name, "decay", self.round)
            scored = [rid for rid in self.order if self.records[rid]["x_opencti_score"]]
            ids = sorted(rng.sample(scored, round(fraction * len(self.order))), key=self.position.__getitem__)
            for rid in ids:
                rec, ts = self.records[rid], data.mutation_time(rng, self.round)
                self.records[rid] = {**rec, "x_opencti_score": max(0, rec["x_opencti_score"] - rng.randint(5, 30)),
                                     "modified": _iso(ts), "updated_at": _iso(ts + 1)}
            self.version += 1
            self.on_data_changed()
        return ids

    # ---- dialect --------------------------------------------------------------------
    def error(self, status: int, message: str) -> Response:
        code = {400: "GRAPHQL_VALIDATION_FAILED", 401: "AUTH_REQUIRED", 429: "RATE_LIMITED"}.get(status, "INTERNAL_SERVER_ERROR")
        return json_response(status, {"errors": [{"message": message, "extensions": {"code": code}}], "data": None})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        resp = self.error(429, "Too many requests")
        resp.headers.append(("Retry-After", str(max(1, math.ceil(reset_epoch - time.time())))))
        return resp

    def authenticate(self, req: Request) -> Response | None:
        scheme, _, token = (req.headers.get("Authorization") or "").partition(" ")
        if scheme == "Bearer" and token.strip() and token.strip() == self.credentials.get("token"):
            return None
        return self.error(401, "You must be logged in to do this.")

    # ---- GraphQL ------------------------------------------------------------------------
    def _matches(self, group: dict, rec: dict) -> bool:
        results = []
        for f in group.get("filters") or []:
            op = _OPS.get(f.get("operator", "eq"))
            keys = f["key"] if isinstance(f.get("key"), list) else [f.get("key")]
            if op is None or any(k not in rec for k in keys):
                raise BadRequest(f"unsupported filter {f!r}")
            hits = [op(rec[k], v) for k in keys for v in f.get("values") or [] if rec[k] is not None]
            results.append(all(hits) if f.get("mode") == "and" else any(hits))
        results += [self._matches(g, rec) for g in group.get("filterGroups") or []]
        return all(results) if group.get("mode", "and") == "and" else any(results)

    @route("POST", "/graphql")
    def graphql(self, req: Request) -> Response:
        body = req.json()
        query = body.get("query") if isinstance(body, dict) else None
        if not isinstance(query, str) or not re.search(r"\bindicators\s*\(", query):
            raise BadRequest("the simulator serves the `indicators` query only")
        selected = _NODE.search(query)
        fields = selected.group(1).split() if selected else []
        v = body.get("variables") or {}
        first = min(int(v.get("first") or DEFAULT_FIRST), MAX_FIRST)
        order_by, desc = v.get("orderBy") or "created_at", (v.get("orderMode") or "asc") == "desc"
        with self.lock:
            recs = [self.records[rid] for rid in self.order]
        if recs and (order_by not in recs[0] or any(f not in recs[0] for f in fields)):
            bad = order_by if order_by not in recs[0] else next(f for f in fields if f not in recs[0])
            raise BadRequest(f'Cannot query field "{bad}" on type "Indicator".')
        if v.get("filters"):
            recs = [r for r in recs if self._matches(v["filters"], r)]
        rows = sorted(((r[order_by], r["id"]), r) for r in recs)
        if desc:
            rows.reverse()
        keys = [k for k, _ in rows]
        start = 0
        if v.get("after"):
            try:
                after = tuple(orjson.loads(base64.b64decode(v["after"])))
            except ValueError:
                raise BadRequest("invalid cursor") from None
            start = (len(keys) - bisect.bisect_left([k for k in reversed(keys)], after) if desc
                     else bisect.bisect_right(keys, after))
        page = rows[start:start + first]
        edges = [{"node": {f: r[f] for f in fields}, "cursor": _cursor(k)} for k, r in page]
        info = {"startCursor": edges[0]["cursor"] if edges else None,
                "endCursor": edges[-1]["cursor"] if edges else None,
                "hasNextPage": start + len(page) < len(rows), "hasPreviousPage": start > 0,
                "globalCount": len(rows)}
        return Response(200, self.render({"data": {"indicators": {"edges": edges, "pageInfo": info}}}))
