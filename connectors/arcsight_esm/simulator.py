"""ArcSight ESM (query viewer events), as in ../shared/vendor-apis-2.md §24.

Served under ``/arcsight_esm`` (the manager's ``https://<esm>:8443``):

* ``POST /www/core-service/rest/LoginService/login`` form ``login``, ``password``: with ``Accept:
  application/json`` → ``{"log.loginResponse": {"log.return": "<token>"}}``, otherwise the XML answer
  (``<ns3:loginResponse><ns3:return>…``). Wrong credentials → 401 (status unconfirmed). The ``GET`` form with
  the credentials in the URL is served too (and counted as ``logins_in_url``: a connector must not use it).
* ``POST /www/core-service/rest/LoginService/logout`` form ``authToken`` ends the session (204). Counted:
  stats ``logins``, ``logouts``, ``live_sessions``.
* ``GET /www/manager-service/rest/QueryViewerService/getMatrixData?authToken=&id=&alt=json``: the whole matrix of
  the query viewer ``id`` (``VIEWER_ID``), no paging. Keys by version (knob ``esm_major``): 6 (6.7 / 6.9)
  ``qvs.getMatrixDataResponse`` / ``qvs.return``, later ``que.``; ``columnHeaders`` and rows
  ``{"value": [{"$": v}, …]}`` (an empty cell is ``{}``), times as epoch ms text. A one-row matrix is an object,
  not a list (the XML-to-JSON rendering). A dead token (idle past knob ``token_idle`` seconds, or after knob
  ``expire_after`` data requests, or logged out) → 401 (status unconfirmed); an unknown viewer id → 400.
* Rate limits are undocumented: an overload answers a bare 429.
"""
from __future__ import annotations

import random
import secrets
import threading
import time
from typing import Any, ClassVar

from nexus_sync.simulator import Request, Response, VendorSim, data, json_response, register, route

LOGIN = "/www/core-service/rest/LoginService/"
VIEWER_ID = "Rr7A1BQABABCx4H+gBAhg2w=="
COLUMNS = ["Event ID", "Start Time", "End Time", "Name", "Priority", "Device Vendor", "Device Product",
           "Target Host Name", "Target Address", "Source User Name"]
KINDS = [("TRAFFIC deny", "Palo Alto Networks", "PAN-OS"), ("Failed login", "Microsoft", "Windows"),
         ("Malware detected", "CrowdStrike", "Falcon"), ("Port scan", "Cisco", "ASA"),
         ("Privilege escalation", "Linux", "auditd")]


@data.register_generator("arcsight_esm")
def generate_arcsight_esm(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "arcsight_esm", "records")
    out = []
    for i in range(size):
        start = rng.between(data.DATA_EPOCH - 30 * data.DAY, data.DATA_EPOCH - 3600) * 1000 + rng.below(1000)
        name, vendor, product = rng.pick(KINDS)
        out.append({"Event ID": str(1_000_000_000 + i * 7), "Start Time": str(start), "End Time": str(start + 500),
                    "Name": name, "Priority": str(rng.below(11)), "Device Vendor": vendor, "Device Product": product,
                    "Target Host Name": f"srv{rng.below(90):02d}.corp.example",
                    "Target Address": f"10.20.{rng.below(250)}.{rng.below(250) + 1}",
                    "Source User Name": f"user{rng.below(300)}" if rng.random() < 0.6 else None})
    return out


@register
class ArcsightEsmSim(VendorSim):
    name = "arcsight_esm"
    id_field = "Event ID"
    default_credentials = {"username": "nexus-api", "password": "sim-ArcSight-pass-1"}
    extra_knobs: ClassVar[dict[str, Any]] = {"esm_major": 7, "token_idle": 1800.0, "expire_after": 0}

    def __init__(self, sim: Any):
        self.tokens: dict[str, list[float]] = {}  # token → [last use, data requests served]
        self._tokens_lock = threading.Lock()
        super().__init__(sim)

    def reset(self) -> None:
        with self._tokens_lock:
            self.tokens.clear()
        super().reset()

    def reset_stats(self) -> None:
        super().reset_stats()
        with self.lock:
            self.stats.update(logins=0, logouts=0, logins_in_url=0)

    def get_stats(self) -> dict[str, Any]:
        out = super().get_stats()
        with self._tokens_lock:
            out["live_sessions"] = len(self.tokens)
        return out

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """A correlated event is re-prioritised and its end time moves on."""
        end = data.mutation_time(rng, round_no) * 1000
        return {**record, "Priority": str(rng.randrange(11)), "End Time": str(max(end, int(record["Start Time"])))}

    # ---- dialect
    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"errorCode": status, "errorMessage": message})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        return Response(429, b"Too Many Requests", content_type="text/plain")

    # ---- session
    def _login(self, req: Request, form: dict[str, str]) -> Response:
        if form.get("login") != self.credentials["username"] or form.get("password") != self.credentials["password"]:
            return self.error(401, "Login failed")
        token = secrets.token_urlsafe(40)
        with self._tokens_lock:
            self.tokens[token] = [time.time(), 0]
        with self.lock:
            self.stats["logins"] += 1
        if "application/json" in (req.headers.get("Accept") or ""):
            return json_response(200, {"log.loginResponse": {"log.return": token}})
        xml = (f'<ns3:loginResponse xmlns:ns3="http://ws.v1.service.core.soap.ws.arcsight.com">'
               f"<ns3:return>{token}</ns3:return></ns3:loginResponse>")
        return Response(200, xml.encode(), content_type="application/xml")

    @route("POST", LOGIN + "login", data_request=False)
    def login(self, req: Request) -> Response:
        return self._login(req, req.form())

    @route("GET", LOGIN + "login", data_request=False)
    def login_in_url(self, req: Request) -> Response:
        with self.lock:
            self.stats["logins_in_url"] += 1
        return self._login(req, {"login": req.arg("login") or "", "password": req.arg("password") or ""})

    @route("POST", LOGIN + "logout", data_request=False)
    def logout(self, req: Request) -> Response:
        with self._tokens_lock:
            known = self.tokens.pop(req.form().get("authToken", ""), None)
        if known is not None:
            with self.lock:
                self.stats["logouts"] += 1
        return Response(204, b"")

    def authenticate(self, req: Request) -> Response | None:
        limit = int(self.faults["expire_after"])
        with self._tokens_lock:
            hit = self.tokens.get(req.arg("authToken") or "")
            if hit is None or hit[0] + float(self.faults["token_idle"]) <= time.time() or (limit and hit[1] >= limit):
                return self.error(401, "Authentication failed: the token is invalid or has expired")
            hit[0], hit[1] = time.time(), hit[1] + 1
        return None

    # ---- the query viewer
    @route("GET", "/www/manager-service/rest/QueryViewerService/getMatrixData")
    def matrix(self, req: Request) -> Response:
        if req.arg("id") != VIEWER_ID:
            return self.error(400, "Resource not found or not a query viewer")
        with self.lock:
            recs = [self.records[rid] for rid in self.order]
        rows: Any = [{"value": [{"$": r[c]} if r.get(c) is not None else {} for c in COLUMNS]} for r in recs]
        if len(rows) == 1:
            rows = rows[0]  # one row: an object where a list was meant
        ns = "qvs" if int(self.faults["esm_major"]) <= 6 else "que"
        matrix = {"columnHeaders": COLUMNS, "rows": rows} if recs else {"columnHeaders": COLUMNS}
        return json_response(200, {f"{ns}.getMatrixDataResponse": {f"{ns}.return": matrix}})
