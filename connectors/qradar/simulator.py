"""IBM QRadar offenses, as in ../shared/vendor-apis-2.md §23.

Served under ``/qradar`` (``https://<console>``):

* ``GET /api/siem/offenses?filter=&sort=&fields=`` → a **bare JSON array** of offenses.
* Paging by the **``Range: items=x-y`` request header** (0-based, inclusive); the answer carries
  ``Content-Range: items x-y/total``. Without ``Range`` every offense comes in one answer (QRadar's own
  behaviour: the header is the only paging). A range that starts past the end: ``200 []`` with
  ``Content-Range: items */total``. A range whose end is before its start is not satisfiable: ``416`` with
  ``Content-Range: items */total`` (status from HTTP range semantics; unconfirmed for QRadar). ``Range`` as a
  query parameter is not paging and is ignored (a 50-item slice is what the API doc page's default gives).
* ``SEC: <token>`` required (the authorized service token): else ``401`` with QRadar's error body
  ``{"http_response": {"code", "message"}, "code", "message", "description", "details"}``.
* ``Version: <api version>`` pins the API version. Known versions answer; an unknown one is ``406``
  (``Invalid version``; unconfirmed status). Omitted: the newest version answers, and in it (this simulator's
  stand-in for "fields can change") ``offense_source`` is renamed ``offense_source_name``; stats count these.
* ``filter``: ``<field> <op> <value>`` terms joined by ``and`` (ops ``=``, ``!=``, ``>``, ``>=``, ``<``,
  ``<=``; numbers, or strings in double quotes); another grammar is ``422``. ``sort``: ``+field`` /
  ``-field``; unsorted answers come newest first (by ``id``, descending).
* Times are epoch **milliseconds**; offense ``id`` is an int; ``status`` OPEN / HIDDEN / CLOSED.
* No documented rate limit: over this simulator's budget, a bare ``429`` with QRadar's error body (no rate
  headers; unconfirmed).
"""
from __future__ import annotations

import random
import re
from typing import Any

import orjson

from nexus_sync.simulator import BadRequest, Request, Response, VendorSim, data, json_response, register, route

VERSIONS = {"10.1", "12.0", "14.0", "15.0", "16.0", "17.0", "18.0", "19.0", "20.0", "21.0", "22.0", "26.0"}
NEWEST = "26.0"
_RANGE = re.compile(r"^\s*items\s*=\s*(\d+)\s*-\s*(\d+)\s*$")
_TERM = re.compile(r'^\s*([a-z_]+)\s*(>=|<=|!=|=|>|<)\s*("[^"]*"|-?\d+)\s*$')
_CODES = {401: (25, "You are unauthorized to access the requested resource."), 404: (1002, "Not Found"),
          406: (1009, "Not Acceptable"), 416: (1010, "Requested Range Not Satisfiable"),
          422: (1005, "Unprocessable Entity"), 429: (1011, "Too Many Requests"), 500: (1020, "Internal Server Error"),
          503: (1021, "Service Unavailable")}
_CATEGORIES = ["Access Denied", "ACL Deny", "Suspicious Activity", "Brute Force Login", "Malware", "Policy Violation",
               "Port Scan", "Exploit"]
_DESCRIPTIONS = ["Excessive Firewall Denies Between Hosts", "Multiple Login Failures for the Same User",
                 "Local Malware Events Followed by Communication to a Remote Host", "Potential Port Scan Detected",
                 "Login Failures Followed By Success to the same Username", "Exploit Attempt Against a Web Server"]
_OPS = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}


@data.register_generator("qradar")
def generate(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "qradar", "records")
    out, next_id = [], 100
    for _ in range(size):
        next_id += 1 + rng.below(4)  # ids rise with creation, with gaps (deleted / other domains)
        start = rng.between(data.DATA_START, data.DATA_EPOCH - 2 * data.DAY) * 1000 + rng.below(1000)
        updated = start + rng.between(60_000, data.DAY * 1000)
        severity = rng.between(1, 11)
        status = rng.pick(["OPEN"] * 7 + ["HIDDEN", "CLOSED", "CLOSED"])
        out.append({
            "id": next_id, "description": rng.pick(_DESCRIPTIONS) + "\n", "status": status,
            "offense_type": rng.pick([0, 0, 1, 3]), "offense_source": f"10.{rng.below(255)}.{rng.below(255)}.{rng.between(1, 255)}",
            "magnitude": max(1, min(10, (severity + rng.between(1, 11)) // 2)), "severity": severity,
            "credibility": rng.between(1, 11), "relevance": rng.between(1, 11), "event_count": rng.between(1, 5000),
            "flow_count": rng.below(50), "start_time": start, "last_updated_time": updated,
            "last_persisted_time": updated + 60_000, "first_persisted_time": start + 60_000,
            "close_time": updated if status == "CLOSED" else None,
            "categories": rng.sample(_CATEGORIES, 1 + rng.below(2)),
            "source_address_ids": [rng.between(1, 300)], "local_destination_address_ids": [rng.between(1, 300)],
            "assigned_to": rng.pick([None, None, "admin", "analyst1"]), "domain_id": 0, "follow_up": False,
        })
    return out


@register
class QRadarSim(VendorSim):
    name = "qradar"
    id_field = "id"
    default_credentials = {"token": "sim-qradar-sec-token"}
    default_rate_limit = 600

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        ts = data.mutation_time(rng, round_no) * 1000
        new = {**record, "last_updated_time": ts, "last_persisted_time": ts + 60_000,
               "event_count": record["event_count"] + rng.randrange(1, 500)}
        if rng.random() < 0.3:
            new["status"], new["close_time"] = "CLOSED", ts
        return new

    def render(self, obj: Any) -> bytes:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)  # ids are ints: truth() is keyed by them

    def reset_stats(self) -> None:
        super().reset_stats()
        with self.lock:
            self.stats["unpinned_version"] = 0

    # ---- dialect
    def error(self, status: int, message: str) -> Response:
        code, phrase = _CODES.get(status, (1000, "Error"))
        return json_response(status, {"http_response": {"code": status, "message": phrase}, "code": code,
                                      "message": message, "description": "", "details": {}})

    def authenticate(self, req: Request) -> Response | None:
        token = req.headers.get("SEC")
        if not token:
            return self.error(401, "No SEC header present in request. Please provide it via \"SEC: token\".")
        if token != self.credentials["token"]:
            return self.error(401, "You are unauthorized to access the requested resource.")
        return None

    # ---- offenses
    @route("GET", r"/api/siem/offenses")
    def offenses(self, req: Request) -> Response:
        version = (req.headers.get("Version") or "").strip()
        if version and version not in VERSIONS:
            return self.error(406, f"Invalid version {version!r}: the supported versions are listed at /api/help")
        with self.lock:
            rows = [self.records[rid] for rid in self.order]
            if not version:
                self.stats["unpinned_version"] += 1
        rows = [r for r in rows if _matches(r, req.arg("filter") or "")]
        rows = _sorted(rows, req.arg("sort") or "")
        if not version:  # the newest version's shape
            rows = [{("offense_source_name" if k == "offense_source" else k): v for k, v in r.items()} for r in rows]
        total = len(rows)
        wanted = req.headers.get("Range")
        if wanted is None:
            return Response(200, self.render(rows))
        match = _RANGE.match(wanted)
        if match is None:
            raise BadRequest("Range: expected items=x-y", 422)
        first, last = int(match[1]), int(match[2])
        if last < first:
            resp = self.error(416, f"Range {wanted!r} is not satisfiable")
            resp.headers.append(("Content-Range", f"items */{total}"))
            return resp
        if first >= total:
            return Response(200, b"[]", [("Content-Range", f"items */{total}")])
        last = min(last, total - 1)
        return Response(200, self.render(rows[first:last + 1]), [("Content-Range", f"items {first}-{last}/{total}")])


def _value(text: str) -> Any:
    return text[1:-1] if text.startswith('"') else int(text)


def _matches(row: dict, expr: str) -> bool:
    if not expr.strip():
        return True
    for term in re.split(r"\s+and\s+", expr.strip(), flags=re.I):
        match = _TERM.match(term)
        if match is None:
            raise BadRequest(f"filter: cannot parse {term!r}", 422)
        field, op, raw = match.groups()
        have, want = row.get(field), _value(raw)
        if have is None or isinstance(have, str) != isinstance(want, str) or not _OPS[op](have, want):
            return False
    return True


def _sorted(rows: list[dict], sort: str) -> list[dict]:
    if not sort:
        return sorted(rows, key=lambda r: r["id"], reverse=True)  # unsorted: newest first
    key = sort.lstrip("+-")
    if not re.fullmatch(r"[a-z_]+", key):
        raise BadRequest(f"sort: cannot parse {sort!r}", 422)
    return sorted(rows, key=lambda r: (r.get(key) is None, r.get(key) or 0), reverse=sort.startswith("-"))
