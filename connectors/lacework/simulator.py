"""Lacework (Fortinet FortiCNAPP) alerts, as in ../shared/vendor-apis.md §28.

Served under ``/lacework`` (the account's ``https://<account>.lacework.net``):

* ``POST /api/v2/access/tokens`` with the secret key in ``X-LW-UAKS`` and ``{"keyId", "expiryTime"}`` →
  201 ``{"token", "expiresAt"}`` (ISO with ms, Z); a wrong key id or secret → 401. Data requests need
  ``Authorization: Bearer <token>`` (401 otherwise).
* ``POST /api/v2/Alerts/search`` ``{"timeFilter": {"startTime", "endTime"}, "filters": [...], "returns": [...]}``
  and ``GET /api/v2/Alerts?startTime=&endTime=``: alerts whose ``startTime`` lies in [startTime, endTime). Without
  a time filter: the last 24 hours. A time range over 7 days, or reversed → 400. ``filters``: ``eq`` / ``in`` on
  ``severity``, ``status``, ``alertType``; others → 400.
* Answers ``{"paging": {"rows", "totalRows", "urls": {"nextPage"}}, "data": [...]}``; the vendor picks the page
  size (knob ``page_rows``, default 500); ``nextPage`` is an absolute, opaque URL, fetched with **GET** (also after
  a POST search), absent on the last page, and expires (knob ``next_page_ttl``, default 600 s: then 404).
* Alerts: ``alertId`` (int), ``severity`` Critical/High/Medium/Low/Info, ``status`` Open/Closed, ISO-8601 times
  with milliseconds (``%Y-%m-%dT%H:%M:%S.%fZ``), ``alertInfo``, ``derivedFields``, ``policyId``.
* Errors ``{"message"}``; over the limit 429 (headers unconfirmed: none sent).
"""
from __future__ import annotations

import base64
import random
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, ClassVar

import orjson

from nexus_sync.simulator import BadRequest, Request, Response, VendorSim, data, json_response, register, route

MAX_SPAN = timedelta(days=7)
DEFAULT_SPAN = timedelta(hours=24)
KINDS = [("Unauthorized API Call", "CloudActivityLogIngestion", "Policy", "Cloud Activity", "AWS"),
         ("New External Client Connection", "NewExternalServerDNSConn", "Anomaly", "Application", "Agent"),
         ("Root Account Usage", "CloudActivityLogIngestion", "Policy", "Cloud Activity", "AWS"),
         ("Potentially Compromised Host", "PotentiallyCompromisedHost", "Composite", "Host", "Agent"),
         ("Storage Bucket Made Public", "CloudActivityLogIngestion", "Policy", "Cloud Activity", "GCP"),
         ("New Vulnerability", "NewVulnerability", "Policy", "Vulnerability", "Agent")]
SEVERITIES = ["Critical", "High", "High", "Medium", "Medium", "Low", "Info"]
FILTER_FIELDS = {"severity", "status", "alertType"}


def ms_z(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _time(value: Any, name: str) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        raise BadRequest(f"Invalid {name}: {str(value)[:40]!r}") from None


def _one_of(field: str, values: set[Any]) -> Callable[[dict], bool]:
    return lambda r: r.get(field) in values


@data.register_generator("lacework")
def generate_lacework(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "lacework", "records")
    out = []
    for i in range(size):
        start = rng.between(data.DATA_EPOCH - 30 * data.DAY, data.DATA_EPOCH - 3600)
        name, kind, category, sub, source = rng.pick(KINDS)
        out.append({"alertId": 800_000 + i, "alertName": name, "alertType": kind, "severity": rng.pick(SEVERITIES),
                    "status": "Open" if rng.random() < 0.7 else "Closed",
                    "startTime": data.iso_ms_z(start, rng.below(1000)), "endTime": data.iso_ms_z(start + 3600),
                    "lastUserUpdateTime": data.iso_ms_z(start + 3900),
                    "alertInfo": {"subject": f"{name}: {source} activity", "description": f"{name} detected."},
                    "derivedFields": {"category": category, "sub_category": sub, "source": source},
                    "policyId": f"LW_{source.upper()}_{rng.below(60)}", "reachability": "UnknownReachability"})
    return out


@register
class LaceworkSim(VendorSim):
    name = "lacework"
    id_field = "alertId"
    default_credentials = {"key_id": "SIMLW_0123456789ABCDEF0123456789ABCDEF01234567", "secret_key": "_sim0123456789abcdef"}
    extra_knobs: ClassVar[dict[str, Any]] = {"page_rows": 500, "next_page_ttl": 600.0}

    def __init__(self, sim: Any):
        self.tokens: dict[str, float] = {}  # token → expires
        self.pages: dict[str, tuple[float, datetime, datetime, int, Any]] = {}  # nextPage id → query and offset
        self._tokens_lock = threading.Lock()
        super().__init__(sim)

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """Triage: the alert is closed or reopened, maybe re-rated; lastUserUpdateTime moves on."""
        new = {**record, "status": "Closed" if record["status"] == "Open" else "Open"}
        if rng.random() < 0.3:
            new["severity"] = rng.choice([s for s in SEVERITIES if s != record["severity"]])
        new["lastUserUpdateTime"] = data.iso_ms_z(data.mutation_time(rng, round_no))
        return new

    def render(self, obj: Any) -> bytes:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)  # alert ids are ints: truth() is keyed by them

    # ---- dialect
    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"message": message})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        return self.error(429, "Too many requests, please try again later")

    @route("POST", "/api/v2/access/tokens", data_request=False)
    def access_token(self, req: Request) -> Response:
        body = req.json() or {}
        if req.headers.get("X-LW-UAKS") != self.credentials["secret_key"] or \
                not isinstance(body, dict) or body.get("keyId") != self.credentials["key_id"]:
            return self.error(401, "Unauthorized: invalid access key or secret key")
        expiry = body.get("expiryTime", 3600)
        if not isinstance(expiry, int) or not 300 <= expiry <= 86_400:
            return self.error(400, "expiryTime must be 300..86400 seconds")
        token = "_" + secrets.token_hex(28)
        expires = time.time() + min(expiry, int(self.sim.config.token_ttl) + 1801)
        with self._tokens_lock:
            self.tokens[token] = expires
        return json_response(201, {"token": token, "expiresAt": ms_z(datetime.fromtimestamp(expires, timezone.utc))})

    def authenticate(self, req: Request) -> Response | None:
        scheme, _, token = (req.headers.get("Authorization") or "").partition(" ")
        with self._tokens_lock:
            expires = self.tokens.get(token.strip()) if scheme == "Bearer" else None
        if expires is None or expires <= time.time():
            return self.error(401, "Unauthorized Access")
        return None

    # ---- alerts
    @staticmethod
    def _filters(filters: Any) -> Callable[[dict], bool]:
        checks: list[Callable[[dict], bool]] = []
        for f in filters or []:
            field, expr, value = (f.get(k) for k in ("field", "expression", "value")) if isinstance(f, dict) \
                else (None, None, None)
            if field not in FILTER_FIELDS or expr not in ("eq", "in"):
                raise BadRequest(f"Unsupported filter {str(f)[:80]}")
            values = set(value if isinstance(value, list) else [value]) if expr == "in" else {value}
            checks.append(_one_of(str(field), values))
        return lambda r: all(c(r) for c in checks)

    def _page(self, req: Request, start: datetime, end: datetime, offset: int, filters: Any) -> Response:
        if end <= start or end - start > MAX_SPAN:
            raise BadRequest("The time range must be positive and must not exceed 7 days")
        match = self._filters(filters)
        with self.lock:
            hits = [r for r in (self.records[rid] for rid in self.order)
                    if start <= _time(r["startTime"], "startTime") < end and match(r)]
        rows = max(1, int(self.faults["page_rows"]))
        page = hits[offset: offset + rows]
        urls: dict[str, str] = {}
        if offset + rows < len(hits):
            key = base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=")
            with self._tokens_lock:
                self.pages[key] = (time.time() + float(self.faults["next_page_ttl"]), start, end, offset + rows,
                                   filters)
            urls["nextPage"] = f"{req.base_url}/api/v2/Alerts/{key}"
        return json_response(200, {"paging": {"rows": len(page), "totalRows": len(hits), "urls": urls},
                                   "data": page})

    @route("POST", "/api/v2/Alerts/search")
    def search(self, req: Request) -> Response:
        body = req.json() or {}
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        window = body.get("timeFilter")
        if window is None:
            end = datetime.now(timezone.utc)
            return self._page(req, end - DEFAULT_SPAN, end, 0, body.get("filters"))
        if not isinstance(window, dict):
            raise BadRequest("timeFilter must be an object")
        return self._page(req, _time(window.get("startTime"), "startTime"), _time(window.get("endTime"), "endTime"),
                          0, body.get("filters"))

    @route("GET", "/api/v2/Alerts")
    def alerts(self, req: Request) -> Response:
        end = _time(req.arg("endTime"), "endTime") if req.arg("endTime") else datetime.now(timezone.utc)
        start = _time(req.arg("startTime"), "startTime") if req.arg("startTime") else end - DEFAULT_SPAN
        return self._page(req, start, end, 0, None)

    @route("GET", r"/api/v2/Alerts/(?P<key>[A-Za-z0-9_-]{20,})")
    def next_page(self, req: Request, key: str) -> Response:
        with self._tokens_lock:
            hit = self.pages.pop(key, None)
        if hit is None or hit[0] <= time.time():
            return self.error(404, "The page has expired or does not exist")
        _, start, end, offset, filters = hit
        return self._page(req, start, end, offset, filters)
