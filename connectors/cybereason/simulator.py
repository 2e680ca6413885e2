"""Cybereason sensors, as in ../shared/vendor-apis-2.md §22.

Served under ``/cybereason`` (the tenant's ``https://<tenant>.cybereason.net``):

* ``POST /login.html`` form ``username``, ``password`` (urlencoded): a **302** either way. Good credentials →
  ``Location: /`` and ``Set-Cookie: JSESSIONID=…``; wrong ones → ``Location: /login.html?error``; knob
  ``password_expired`` → ``/login.html?reset``; knob ``two_factor`` → 200 with the page text "Two factor
  authentication" (API users cannot use 2FA). ``GET /login.html`` is the HTML login page.
* Data requests need the ``JSESSIONID`` cookie of a live session; a missing, unknown, logged-out or expired one
  (knob ``session_ttl`` seconds, default 1800) answers **302 to /login.html** (HTML), never 401. Knob
  ``expire_after`` n: a session dies after n data requests (a session that dies mid-sync).
* ``GET /logout`` ends the session (302 to the login page). Counted: stats ``logins``, ``logouts``,
  ``live_sessions`` (sessions logged in and not logged out, expired or not).
* ``POST /rest/sensors/query`` ``{"limit", "offset", "filters", "sortDirection"}``: ``offset`` is a **page
  number** (0-based), ``limit`` ≤ 30000; filters ``{"fieldName", "operator": Equals|NotEquals, "values"}`` on
  ``status``, ``osType``, ``groupName``; others → 400 ``{"status": "FAILURE", "message"}``. Answer
  ``{"sensors", "totalResults", "hasMoreResults"}``. Sensor ``status`` Online/Offline/Stale/Archived (Archived =
  decommissioned: a connector must filter them out), epoch-ms times.
* Rate limits are unconfirmed (no headers in the SDK): an overload answers a bare 429.
"""
from __future__ import annotations

import random
import secrets
import threading
import time
from typing import Any, Callable, ClassVar

from nexus_sync.simulator import BadRequest, Request, Response, VendorSim, data, json_response, register, route

STATUSES = ["Online"] * 6 + ["Offline"] * 2 + ["Stale", "Archived"]
OS = [("WINDOWS", "Windows_10"), ("WINDOWS", "Windows_11"), ("WINDOWS", "Windows_Server_2019"),
      ("LINUX", "Ubuntu_22_04"), ("OSX", "macOS_14")]
GROUPS = ["Workstations", "Servers", "Laptops", "Default"]
FILTER_FIELDS = {"status", "osType", "groupName"}
MAX_LIMIT = 30000
LOGIN_PAGE = b"<html><head><title>Cybereason | Login</title></head><body><form action=\"login.html\">" \
             b"</form></body></html>"


def _check(field: str, values: set[Any], equals: bool) -> Callable[[dict], bool]:
    return lambda r: (r.get(field) in values) == equals


@data.register_generator("cybereason")
def generate_cybereason(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "cybereason", "records")
    out = []
    for i in range(size):
        mac = "005056" + f"{rng.below(16 ** 6):06X}"
        host = f"ws{i:04d}"
        pylum = f"PYLUMCLIENT_INTEGRATION_{host.upper()}_{mac}"
        os_type, os_version = rng.pick(OS)
        first = rng.between(data.DATA_EPOCH - 400 * data.DAY, data.DATA_EPOCH - 30 * data.DAY)
        out.append({"sensorId": f"5e77883de4b0575ddcf824ef:{pylum}", "pylumId": pylum,
                    "guid": f"-{rng.between(10 ** 9, 2 * 10 ** 9)}.{rng.between(10 ** 18, 9 * 10 ** 18)}",
                    "machineName": host, "fqdn": f"{host}.corp.example",
                    "internalIpAddress": f"10.1.{i // 250}.{i % 250 + 2}",
                    "externalIpAddress": f"198.51.100.{rng.below(250) + 1}", "osType": os_type,
                    "osVersionType": os_version, "status": rng.pick(STATUSES), "isolated": rng.random() < 0.05,
                    "version": f"23.1.{rng.below(300)}.1", "policyName": "Default", "groupName": rng.pick(GROUPS),
                    "firstSeenTime": first * 1000,
                    "lastPylumInfoMsgUpdateTime": (data.DATA_EPOCH - rng.below(7 * data.DAY)) * 1000,
                    "serialNumber": f"VMware-42 {rng.below(256):02x}", "preventionStatus": "ENABLED"})
    return out


@register
class CybereasonSim(VendorSim):
    name = "cybereason"
    id_field = "sensorId"
    default_credentials = {"username": "api-user@corp.example", "password": "sim-Cybereason-pass-1"}
    extra_knobs: ClassVar[dict[str, Any]] = {"session_ttl": 1800.0, "expire_after": 0, "password_expired": False,
                                             "two_factor": False}

    def __init__(self, sim: Any):
        self.sessions: dict[str, list[float]] = {}  # JSESSIONID → [expires, data requests served]
        self._sessions_lock = threading.Lock()
        super().__init__(sim)

    def reset(self) -> None:
        with self._sessions_lock:
            self.sessions.clear()
        super().reset()

    def reset_stats(self) -> None:
        super().reset_stats()
        with self.lock:
            self.stats.update(logins=0, logouts=0)

    def get_stats(self) -> dict[str, Any]:
        out = super().get_stats()
        with self._sessions_lock:
            out["live_sessions"] = len(self.sessions)
        return out

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """A sensor checks in (new heartbeat), goes offline / online, or gets a new version."""
        new = {**record, "lastPylumInfoMsgUpdateTime": data.mutation_time(rng, round_no) * 1000}
        if rng.random() < 0.5:
            new["status"] = "Offline" if record["status"] == "Online" else "Online"
        else:
            new["version"] = f"23.2.{rng.randrange(300)}.1"
        return new

    # ---- dialect
    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"status": "FAILURE", "message": message})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        return Response(429, b"Too Many Requests", content_type="text/plain")

    def _to_login(self, req: Request, query: str = "") -> Response:
        return Response(302, b"", [("Location", f"{req.base_url}/login.html{query}")], content_type="text/html")

    def _cookie(self, req: Request) -> str | None:
        for part in (req.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "JSESSIONID":
                return value
        return None

    # ---- session
    @route("POST", "/login.html", data_request=False)
    def login(self, req: Request) -> Response:
        if "application/x-www-form-urlencoded" not in (req.headers.get("Content-Type") or ""):
            return self._to_login(req, "?error")
        form = req.form()
        if form.get("username") != self.credentials["username"] or \
                form.get("password") != self.credentials["password"]:
            return self._to_login(req, "?error")
        if self.faults["password_expired"]:
            return self._to_login(req, "?reset")
        if self.faults["two_factor"]:
            return Response(200, b"<html><body>Two factor authentication</body></html>", content_type="text/html")
        session = secrets.token_hex(16).upper()
        with self._sessions_lock:
            self.sessions[session] = [time.time() + float(self.faults["session_ttl"]), 0]
        with self.lock:
            self.stats["logins"] += 1
        return Response(302, b"", [("Location", f"{req.base_url}/"),
                                   ("Set-Cookie", f"JSESSIONID={session}; Path=/; Secure; HttpOnly")],
                        content_type="text/html")

    @route("GET", "/login.html", data_request=False)
    def login_page(self, req: Request) -> Response:
        return Response(200, LOGIN_PAGE, content_type="text/html")

    @route("GET", "/logout", data_request=False)
    def logout(self, req: Request) -> Response:
        session = self._cookie(req)
        with self._sessions_lock:
            known = self.sessions.pop(session or "", None)
        if known is not None:
            with self.lock:
                self.stats["logouts"] += 1
        return self._to_login(req)

    def authenticate(self, req: Request) -> Response | None:
        session = self._cookie(req)
        limit = int(self.faults["expire_after"])
        with self._sessions_lock:
            hit = self.sessions.get(session or "")
            if hit is None or hit[0] <= time.time() or (limit and hit[1] >= limit):
                return self._to_login(req)  # the session is over: the login page, not a 401
            hit[1] += 1
        return None

    # ---- sensors
    @staticmethod
    def _filters(filters: Any) -> Callable[[dict], bool]:
        checks: list[Callable[[dict], bool]] = []
        for f in filters or []:
            field, op, values = (f.get(k) for k in ("fieldName", "operator", "values")) if isinstance(f, dict) \
                else (None, None, None)
            if field not in FILTER_FIELDS or op not in ("Equals", "NotEquals") or not isinstance(values, list):
                raise BadRequest(f"Unsupported filter {str(f)[:80]}")
            checks.append(_check(str(field), set(values), op == "Equals"))
        return lambda r: all(c(r) for c in checks)

    @route("POST", "/rest/sensors/query")
    def sensors(self, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        limit, page = body.get("limit", 100), body.get("offset", 0)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT or not isinstance(page, int) or page < 0:
            raise BadRequest(f"limit must be 1..{MAX_LIMIT} and offset a page number >= 0")
        match = self._filters(body.get("filters"))
        with self.lock:
            hits = [r for r in (self.records[rid] for rid in self.order) if match(r)]
        if body.get("sortDirection", "ASC") == "DESC":
            hits.reverse()
        start = page * limit  # offset is a page number, not a row offset
        rows = hits[start:start + limit]
        return json_response(200, {"sensors": rows, "totalResults": len(hits),
                                   "hasMoreResults": start + limit < len(hits)})
