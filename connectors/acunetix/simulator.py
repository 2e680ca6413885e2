"""Acunetix (on-prem / Premium) vulnerabilities, as in ../shared/vendor-apis-2.md §32.

Served under ``/acunetix`` (``https://<host>:3443``):

* ``GET /api/v1/vulnerabilities?c=&l=&s=&q=`` → ``{"vulnerabilities": [...], "pagination": {"count",
  "cursor_hash", "cursors", "next_cursor", "sort"}}``. ``l`` (limit) defaults to 100 and is capped at 100
  (the real maximum is unconfirmed). ``next_cursor`` is an opaque cursor while more remain, ``null`` on the last
  page; a cursor carries the query (``q``, ``s``), so later pages need only ``c``. An unknown cursor is 400.
* ``s``: ``<field>:asc|desc`` (``last_seen:desc`` as the fact sheet's client sorts); unsorted answers are in
  the order findings were made. ``q``: ``;``-separated ``key:value`` terms — ``status:open`` (``open``,
  ``fixed``, ``ignored``, ``false_positive``; ``!open`` negates), ``severity:3``, ``target_id:<uuid>``,
  ``cvss_score:>=7``; an unknown key is 400.
* ``X-Auth: <API key>`` required: else ``401`` ``{"code": 401, "reason": "Unauthorized", "message", "details"}``.
* ``vuln_id`` is a decimal string; ``severity`` an int 0 (info) .. 3 (high), and 4 in newer builds; times
  ISO-8601 with microseconds and an offset (``2024-06-01T08:00:00.000000+00:00``).
* No documented rate limit; over this simulator's budget a ``429`` (the SDK's ``RateLimitError``) without
  rate headers (unconfirmed).
"""
from __future__ import annotations

import random
import time
from typing import Any

from nexus_sync.simulator import BadRequest, Request, Response, VendorSim, data, json_response, register, route
from nexus_sync.simulator.cursors import opaque, read_opaque

MAX_LIMIT = DEFAULT_LIMIT = 100
STATUSES = ("open", "fixed", "ignored", "false_positive")
_TYPES = [("b54cfb4a-7a29-4d6e-9d1e-7c8f0b0e1a11", "SQL injection", 3, ["CWE-89"]),
          ("0c5c3a8e-1a55-4b39-9a11-5e6d7f8a9b01", "Cross site scripting", 3, ["CWE-79"]),
          ("e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e6f7", "TLS 1.0 enabled", 1, ["CWE-16"]),
          ("7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d", "Apache Log4j RCE", 4, ["CWE-502", "CVE-2021-44228"]),
          ("1b2c3d4e-5f60-4718-9a0b-c1d2e3f4a5b6", "Clickjacking: X-Frame-Options header", 0, ["CWE-1021"]),
          ("2c3d4e5f-6071-4829-8a1b-d2e3f4a5b6c7", "Directory listing", 2, ["CWE-548"])]
_HOSTS = ["shop", "portal", "api", "intranet", "blog", "mail"]
REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def stamp(ts: int, us: int = 0) -> str:
    return data.iso_z(ts)[:-1] + f".{us:06d}+00:00"


@data.register_generator("acunetix")
def generate(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "acunetix", "records")
    targets = [(f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-"
                f"8{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}", host) for host in _HOSTS]
    out = []
    for i in range(size):
        vt_id, vt_name, severity, tags = rng.pick(_TYPES)
        target_id, host = rng.pick(targets)
        first = rng.between(data.DATA_START, data.DATA_EPOCH - 7 * data.DAY)
        last = rng.between(first, data.DATA_EPOCH - 60)
        out.append({
            "vuln_id": str(2926553133264257008 + i * 9973 + rng.below(9973)), "vt_id": vt_id, "vt_name": vt_name,
            "severity": severity, "criticality": rng.pick([10, 20, 30]), "confidence": rng.pick([80, 95, 100]),
            "status": rng.pick(["open"] * 6 + ["fixed", "ignored", "false_positive"]),
            "affects_url": f"https://{host}.example.com/item{rng.below(50)}.php",
            "affects_detail": rng.pick(["URL encoded GET input id", "Cookie input session", ""]),
            "target_id": target_id, "target_description": f"{host} prod",
            "first_seen": stamp(first, rng.below(1_000_000)), "last_seen": stamp(last, rng.below(1_000_000)),
            "tags": list(tags), "app": "wvs",
        })
    return out


class AcunetixDialect(VendorSim):
    """What every Acunetix endpoint shares: the `X-Auth` key and the error body."""

    default_credentials = {"api_key": "sim-acunetix-api-key-1986ad8c0a5b3df4d7028d5f3c06e936c"}
    default_rate_limit = 600

    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"code": status, "reason": REASONS.get(status, "Error"), "message": message,
                                      "details": []})

    def authenticate(self, req: Request) -> Response | None:
        key = req.headers.get("X-Auth")
        return None if key == self.credentials["api_key"] else self.error(401, "Unauthorized")


@register
class AcunetixSim(AcunetixDialect):
    name = "acunetix"
    id_field = "vuln_id"

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        new = {**record, "last_seen": stamp(data.mutation_time(rng, round_no), rng.randrange(1_000_000))}
        if rng.random() < 0.3:
            new["status"] = "fixed" if record["status"] == "open" else "open"
        return new

    @route("GET", r"/api/v1/vulnerabilities")
    def vulnerabilities(self, req: Request) -> Response:
        limit = min(req.int_arg("l", DEFAULT_LIMIT, 1, None), MAX_LIMIT)
        cursor = req.arg("c")
        if cursor:
            state = read_opaque(cursor, "k", "q", "s")
            start, query, sort = int(state["k"]), str(state["q"]), str(state["s"])
        else:
            start, query, sort = 0, req.arg("q") or "", req.arg("s") or ""
        with self.lock:
            rows = [self.records[rid] for rid in self.order]
        rows = _sorted([r for r in rows if _matches(r, query)], sort)
        page = rows[start:start + limit]
        more = start + limit < len(rows)
        return json_response(200, {"vulnerabilities": page, "pagination": {
            "count": len(rows), "cursor_hash": f"{hash((query, sort, time.time())) & 0xFFFFFFFF:08x}",
            "cursors": [cursor] if cursor else [], "sort": sort or None,
            "next_cursor": opaque({"k": start + limit, "q": query, "s": sort}) if more else None}})


def _term_matches(row: dict, key: str, value: str) -> bool:
    if key == "status":
        negate = value.startswith("!")
        wanted = set(value.lstrip("!").split(","))
        if not wanted <= set(STATUSES):
            raise BadRequest(f"q: unknown status {value!r}")
        return (row["status"] in wanted) != negate
    if key in ("severity", "criticality"):
        return str(row[key]) in value.split(",")
    if key in ("target_id", "vt_id"):
        return row[key] == value
    if key == "cvss_score":
        return False  # the simulated findings carry no score: a score filter matches none
    raise BadRequest(f"q: unknown filter key {key!r}")


def _matches(row: dict, query: str) -> bool:
    for term in filter(None, (t.strip() for t in query.split(";"))):
        key, sep, value = term.partition(":")
        if not sep:
            raise BadRequest(f"q: expected key:value, got {term!r}")
        if not _term_matches(row, key, value):
            return False
    return True


def _sorted(rows: list[dict], sort: str) -> list[dict]:
    if not sort:
        return rows
    field, _, direction = sort.partition(":")
    if field not in ("last_seen", "first_seen", "severity", "criticality", "vuln_id") or \
            direction not in ("", "asc", "desc"):
        raise BadRequest(f"s: cannot sort by {sort!r}")
    key: Any = (lambda r: data.parse_iso(r[field])) if field.endswith("_seen") else (lambda r: r[field])
    return sorted(rows, key=key, reverse=direction == "desc")
