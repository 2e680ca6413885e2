"""Exabeam New-Scale Security Operations Platform cases, as in ../shared/vendor-apis-2.md §25.

Served under ``/exabeam`` (``https://api.<region>.exabeam.cloud``):

* ``POST /auth/v1/token``: form ``grant_type=client_credentials``, ``client_id``, ``client_secret`` →
  ``{"access_token", "token_type": "Bearer", "expires_in"}`` (seconds). Wrong client: 401
  ``{"error": "invalid_client"}`` (body unconfirmed).
* Data calls need ``Authorization: Bearer <token>``: none → 401 ``{"message": "Unauthorized"}``; a token that
  expired (its TTL, or the ``token_expire_after_requests`` knob) → **401 with the text body "Jwt is expired"**.
* ``POST /threat-center/v1/search/cases`` with JSON ``{"limit", "startTime", "endTime", "fields", "filter"}`` →
  ``{"rows": [...], "totalRows", "startTime", "endTime"}``. No cursor: ``rows`` holds at most
  ``min(limit, 3000)`` cases of the window, ``totalRows`` how many the window holds. The window is
  ``startTime <= lastModifiedTimestamp < endTime`` (which timestamp it applies to is unconfirmed).
* **Errors with HTTP 200**: a request the search cannot run (``limit`` not an int in 1..3000, a missing or
  unreadable ``startTime``/``endTime``, an end before the start, a ``filter`` with an unbalanced quote) is
  answered ``200 {"errors": {"message": ...}}``, as XSOAR checks for; the ``errors_in_200_every`` knob answers
  every Nth search so as well (a search backend that is busy).
* Case times are ISO-8601 Z strings; ``caseId`` a UUID; ``priority`` LOW/MEDIUM/HIGH/CRITICAL; ``stage``
  NEW/IN PROGRESS/CLOSED.
* No documented rate limit; over this simulator's budget a 429 ``{"message"}`` without rate headers.
"""
from __future__ import annotations

import random
import uuid
from datetime import datetime
from typing import Any

from nexus_sync.simulator import Request, Response, VendorSim, data, json_response, register, route
from nexus_sync.simulator.tokens import TokenIssuer

CAP = 3000
TOKEN_TTL = 14_400  # expires_in (unconfirmed value; the simulator's token_ttl wins when it is shorter)
_NAMES = ["Abnormal authentication", "Lateral movement", "Data exfiltration", "Privilege escalation",
          "Malware detected", "Impossible travel"]
_USE_CASES = ["Compromised Credentials", "Lateral Movement", "Data Leak", "Privileged Activity", "Malware"]
_USERS = ["jsmith", "adoe", "mlee", "kpatel", "svc_backup", "rgarcia"]


@data.register_generator("exabeam")
def generate(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "exabeam", "records")
    out = []
    for i in range(size):
        created = rng.between(data.DATA_EPOCH - 30 * data.DAY, data.DATA_EPOCH - 3600)
        modified = rng.between(created, data.DATA_EPOCH - 60)
        out.append({
            "caseId": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "caseNumber": f"C-{1001 + i}",
            "alertName": rng.pick(_NAMES), "priority": rng.pick(["LOW", "MEDIUM", "MEDIUM", "HIGH", "CRITICAL"]),
            "riskScore": rng.between(10, 100), "stage": rng.pick(["NEW", "NEW", "IN PROGRESS", "CLOSED"]),
            "queue": rng.pick(["Tier 1", "Tier 2"]), "caseCreationTimestamp": data.iso_z(created),
            "lastModifiedTimestamp": data.iso_z(modified), "users": [rng.pick(_USERS)],
            "srcIps": [f"10.{rng.below(255)}.{rng.below(255)}.{rng.between(1, 255)}"],
            "useCases": [rng.pick(_USE_CASES)],
        })
    return out


def _time(value: Any) -> datetime | None:
    try:
        return data.parse_iso(value) if isinstance(value, str) else None
    except ValueError:
        return None


@register
class ExabeamSim(TokenIssuer, VendorSim):
    name = "exabeam"
    id_field = "caseId"
    default_credentials = {"client_id": "sim-exabeam-client", "client_secret": "sim-exabeam-secret"}
    default_rate_limit = 600
    extra_knobs = {"errors_in_200_every": 0}

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        new = {**record, "lastModifiedTimestamp": data.iso_z(data.mutation_time(rng, round_no))}
        if rng.random() < 0.4:
            new["stage"] = rng.choice([s for s in ("NEW", "IN PROGRESS", "CLOSED") if s != record["stage"]])
        return new

    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"message": message})

    def authenticate(self, req: Request) -> Response | None:
        if self.bearer_claims(req) is not None:
            return None
        if (req.headers.get("Authorization") or "").lower().startswith("bearer "):
            return Response(401, b"Jwt is expired", content_type="text/plain")
        return self.error(401, "Unauthorized")

    @route("POST", r"/auth/v1/token", data_request=False)
    def token(self, req: Request) -> Response:
        form = req.form()
        if form.get("grant_type") != "client_credentials":
            return json_response(400, {"error": "unsupported_grant_type"})
        if (form.get("client_id"), form.get("client_secret")) != (self.credentials["client_id"],
                                                                    self.credentials["client_secret"]):
            return json_response(401, {"error": "invalid_client"})
        ttl = min(TOKEN_TTL, int(self.sim.config.token_ttl))
        return json_response(200, {"access_token": self.tokens.issue(ttl), "token_type": "Bearer", "expires_in": ttl})

    @route("POST", r"/threat-center/v1/search/cases")
    def search_cases(self, req: Request) -> Response:
        every = int(self.faults.get("errors_in_200_every") or 0)
        with self.lock:
            self.searches = getattr(self, "searches", 0) + 1
            busy = bool(every) and self.searches % every == 0
        if busy:
            return json_response(200, {"errors": {"message": "Search service is temporarily unavailable"}})
        body = req.json()
        problem, start, end, limit = _check(body)
        if problem:
            return json_response(200, {"errors": {"message": problem}})
        assert start is not None and end is not None
        with self.lock:
            rows = [self.records[rid] for rid in self.order]
        rows = [r for r in rows if start <= data.parse_iso(r["lastModifiedTimestamp"]) < end]
        rows.sort(key=lambda r: r["lastModifiedTimestamp"], reverse=True)
        return json_response(200, {"rows": rows[:min(limit, CAP)], "totalRows": len(rows),
                                   "startTime": body["startTime"], "endTime": body["endTime"]})

    def on_faults_changed(self) -> None:
        super().on_faults_changed()
        self.searches = 0


def _check(body: Any) -> tuple[str | None, datetime | None, datetime | None, int]:
    """(what is wrong with the search, its window, its limit)."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object", None, None, 0
    limit = body.get("limit")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= CAP:
        return f"limit must be an integer between 1 and {CAP}", None, None, 0
    start, end = _time(body.get("startTime")), _time(body.get("endTime"))
    if start is None or end is None:
        return "startTime and endTime must be ISO-8601 times", None, None, 0
    if end < start:
        return "endTime must not be before startTime", None, None, 0
    if str(body.get("filter") or "").count('"') % 2:
        return "Invalid filter: unbalanced quotes", None, None, 0
    return None, start, end, limit


