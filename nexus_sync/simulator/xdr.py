"""Palo Alto Cortex XDR's public API dialect (../shared/vendor-apis-2.md §21), shared by the simulated
endpoints and incidents (connectors/cortexxdr_*/simulator.py).

* Base ``https://api-{fqdn}/public_api/v1/``; everything is a POST of ``{"request_data": {"filters": [...],
  "search_from", "search_to", "sort": {"field", "keyword": "asc|desc"}}}``.
* Advanced API key: ``x-xdr-auth-id``, ``x-xdr-nonce`` (64 alphanumerics), ``x-xdr-timestamp`` (epoch **ms**)
  and ``Authorization: sha256_hex(key + nonce + timestamp)``. A wrong id or hash, a timestamp off by more than
  ``SKEW_MS`` (clock skew; the real window is unconfirmed) or a nonce seen before answers 401
  ``{"reply": {"err_code": 401, "err_msg": "API request Unauthorized", "err_extra": ...}}``.
* Filters are AND-only, operators ``in``, ``gte``, ``lte``, ``contains``; an unknown operator or field, or
  ``search_to - search_from`` above 100 (the cap), is a 400 (the vendor's status for these is unconfirmed).
* Replies are gzip when the client says ``Accept-Encoding: gzip``.
* No documented rate limit or headers: over the limit, a bare 429.
"""
from __future__ import annotations

import gzip
import hashlib
import re
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, ClassVar

import orjson

from nexus_sync.simulator.messages import BadRequest, Request, Response, json_response
from nexus_sync.simulator.vendor import VendorSim

MAX_WINDOW = 100
SKEW_MS = 5 * 60 * 1000
NONCES_KEPT = 100_000
_NONCE = re.compile(r"[A-Za-z0-9]{64}")
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "in": lambda have, want: have in want if isinstance(want, list) else have == want,
    "gte": lambda have, want: have is not None and have >= want,
    "lte": lambda have, want: have is not None and have <= want,
    "contains": lambda have, want: str(want).lower() in str(have or "").lower(),
}


class XdrSim(VendorSim):
    """A Cortex XDR listing: subclasses name the route's reply key and filterable fields."""

    reply_key: ClassVar[str] = ""
    filter_fields: ClassVar[dict[str, str]] = {}  # filter name -> the record field it reads
    default_credentials = {"api_key_id": "7", "api_key": "sim-xdr-advanced-key"}

    def reset_stats(self) -> None:
        super().reset_stats()
        self.nonces: OrderedDict[str, None] = OrderedDict()
        self.nonce_lock = threading.Lock()

    # ---- dialect
    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"reply": {"err_code": status, "err_msg": message, "err_extra": None}})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        return self.error(429, "Too many requests")  # no Retry-After, no rate-limit headers

    def authenticate(self, req: Request) -> Response | None:
        h = req.headers
        key_id, once, stamp, given = (h.get("x-xdr-auth-id"), h.get("x-xdr-nonce"), h.get("x-xdr-timestamp"),
                                      h.get("Authorization"))
        refused = self.error(401, "API request Unauthorized")
        if key_id != self.credentials["api_key_id"] or not once or not stamp or not given:
            return refused
        if not _NONCE.fullmatch(once) or not stamp.isdigit() or abs(int(stamp) - time.time() * 1000) > SKEW_MS:
            return refused  # a stale (or future) timestamp: the clock-skew 401
        want = hashlib.sha256(f"{self.credentials['api_key']}{once}{stamp}".encode()).hexdigest()
        if given != want:
            return refused
        with self.nonce_lock:
            if once in self.nonces:
                return refused  # a replayed request
            self.nonces[once] = None
            if len(self.nonces) > NONCES_KEPT:
                self.nonces.popitem(last=False)
        return None

    def reply(self, req: Request, obj: Any) -> Response:
        body = orjson.dumps(obj)
        if "gzip" in (req.headers.get("Accept-Encoding") or ""):
            return Response(200, gzip.compress(body, compresslevel=1), [("Content-Encoding", "gzip"),
                                                                        ("Content-Type", "application/json")])
        return Response(200, body, [("Content-Type", "application/json")])

    # ---- request_data
    def request_data(self, req: Request) -> dict[str, Any]:
        body = req.json()
        data = body.get("request_data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise BadRequest("request_data is required")
        return data

    def select(self, data: dict[str, Any]) -> list[dict]:
        """The records the filters keep (AND), sorted as asked."""
        tests = []
        for f in data.get("filters") or []:
            if not isinstance(f, dict) or f.get("field") not in self.filter_fields or \
                    f.get("operator") not in _OPERATORS:
                raise BadRequest(f"An error occurred while processing XDR public API: bad filter {f!r}")
            tests.append((self.filter_fields[f["field"]], _OPERATORS[f["operator"]], f.get("value")))
        with self.lock:
            rows = [self.records[rid] for rid in self.order]
        rows = [r for r in rows if all(op(r.get(field), want) for field, op, want in tests)]
        sort = data.get("sort")
        if isinstance(sort, dict) and sort.get("field"):
            field = sort["field"]
            rows.sort(key=lambda r: (r.get(field) is None, r.get(field) or 0, str(r[self.id_field])),
                      reverse=str(sort.get("keyword", "asc")).lower() == "desc")
        return rows

    def window(self, data: dict[str, Any], rows: list[dict]) -> list[dict]:
        start, end = data.get("search_from", 0), data.get("search_to", MAX_WINDOW)
        if not isinstance(start, int) or not isinstance(end, int) or start < 0 or end < start:
            raise BadRequest("search_from and search_to must be integers, from <= to")
        if end - start > MAX_WINDOW:
            raise BadRequest(f"search_to - search_from must be at most {MAX_WINDOW}")
        return rows[start:end]

    def listing(self, req: Request) -> Response:
        data = self.request_data(req)
        rows = self.select(data)
        page = self.window(data, rows)
        return self.reply(req, {"reply": {"total_count": len(rows), "result_count": len(page),
                                          self.reply_key: page}})
