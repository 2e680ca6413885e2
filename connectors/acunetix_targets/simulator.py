"""Acunetix (on-prem / Premium) targets, as in ../shared/vendor-apis-2.md §32 (the target record's fields past
`target_id`, `address`, `description` and `criticality` are from the product's API documentation, unconfirmed
in the fact sheet).

Served under ``/acunetix_targets`` (``https://<host>:3443``):

* ``GET /api/v1/targets?c=&l=&q=`` → ``{"targets": [...], "pagination": {"count", "cursor_hash", "cursors",
  "next_cursor", "sort"}}``; ``l`` defaults to 100 and is capped at 100; ``next_cursor`` null on the last page;
  a cursor carries its query; an unknown cursor is 400. ``q``: ``criticality:<n>``; another key is 400.
* ``X-Auth: <API key>`` required: else ``401`` ``{"code": 401, "reason": "Unauthorized", "message", "details"}``.
* ``criticality`` is an int (30, 20, 10, 0); ``last_scan_date`` ISO-8601 with microseconds and an offset, or
  null for a target never scanned.
* No documented rate limit; over this simulator's budget a ``429`` without rate headers (unconfirmed).
"""
from __future__ import annotations

import random
import uuid

from connectors.acunetix.simulator import AcunetixDialect, stamp
from nexus_sync.simulator import BadRequest, Request, Response, data, json_response, register, route
from nexus_sync.simulator.cursors import opaque, read_opaque

MAX_LIMIT = DEFAULT_LIMIT = 100
_HOSTS = ["shop", "portal", "api", "intranet", "blog", "mail", "docs", "status", "auth", "cdn"]


@data.register_generator("acunetix_targets")
def generate(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "acunetix_targets", "records")
    out = []
    for i in range(size):
        host = f"{rng.pick(_HOSTS)}{i}.example.com"
        scanned = rng.random() < 0.85
        out.append({
            "target_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "address": rng.pick([f"https://{host}/", f"http://{host}:8080/", host]),
            "description": rng.pick([f"{host.split('.')[0]} prod", "", f"{host} staging"]),
            "criticality": rng.pick([30, 20, 10, 10, 0]), "type": rng.pick(["default", "default", "demo", None]),
            "continuous_mode": rng.random() < 0.2, "manual_intervention": False, "verification": None,
            "last_scan_date": stamp(rng.between(data.DATA_START, data.DATA_EPOCH), rng.below(1_000_000))
            if scanned else None,
            "last_scan_session_status": rng.pick(["completed", "completed", "failed", "aborted"]) if scanned else None,
            "severity_counts": {"high": rng.below(3), "medium": rng.below(5), "low": rng.below(9),
                                "info": rng.below(12)} if scanned else None,
            "threat": rng.below(4) if scanned else None,
        })
    return out


@register
class AcunetixTargetsSim(AcunetixDialect):
    name = "acunetix_targets"
    id_field = "target_id"

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        return {**record, "last_scan_date": stamp(data.mutation_time(rng, round_no), rng.randrange(1_000_000)),
                "last_scan_session_status": rng.choice(["completed", "failed"])}

    @route("GET", r"/api/v1/targets")
    def targets(self, req: Request) -> Response:
        limit = min(req.int_arg("l", DEFAULT_LIMIT, 1, None), MAX_LIMIT)
        cursor = req.arg("c")
        if cursor:
            state = read_opaque(cursor, "k", "q")
            start, query = int(state["k"]), str(state["q"])
        else:
            start, query = 0, req.arg("q") or ""
        wanted = None
        for term in filter(None, (t.strip() for t in query.split(";"))):
            key, _, value = term.partition(":")
            if key != "criticality" or not value.lstrip("-").isdigit():
                raise BadRequest(f"q: unknown filter {term!r}")
            wanted = int(value)
        with self.lock:
            rows = [self.records[rid] for rid in self.order]
        rows = [r for r in rows if wanted is None or r["criticality"] == wanted]
        more = start + limit < len(rows)
        return json_response(200, {"targets": rows[start:start + limit], "pagination": {
            "count": len(rows), "cursor_hash": f"{abs(hash(query)) & 0xFFFFFFFF:08x}",
            "cursors": [cursor] if cursor else [], "sort": None,
            "next_cursor": opaque({"k": start + limit, "q": query}) if more else None}})
