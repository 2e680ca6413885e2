"""Exabeam Advanced Analytics notable users, as in ../shared/vendor-apis-2.md §25 (the AA rows). The user item's
fields past `username`, `riskScore` and `lastSessionId` are from the XSOAR integration's recorded fixture the
fact sheet cites (demisto/content Packs/Exabeam: `test_data/response_users.py`), unconfirmed in the fact sheet.

Served under ``/exabeam_notable_users`` (``https://<aa-host>``):

* ``GET /uba/api/users/notable?unit=&num=&numberOfResults=`` → ``{"users": [{"user": {"username", "riskScore",
  "averageRiskScore", "pastScores", "lastSessionId", "firstSeen", "lastSeen", "lastActivityType",
  "accessStatus", "lastActivityTime", "info": {...}, "labels", "pendingRiskTransfers"}, "userFullName",
  "isExecutive", "highestRiskScore", "highestRiskSession": {...}, "notableSessionIds", "incidentIds"}, ...]}``.
  A **ranked list** (highest risk first) of the users notable in the last ``num`` ``unit``s, cut at
  ``numberOfResults``; no paging, no cursor (quirk 3: not an incremental feed). Which users AA calls notable
  for a window is its analytics: this simulator lists the same notable set for every window.
* ``unit`` one of ``h d w M`` (unconfirmed beyond XSOAR's ``d`` and ``M``), ``num`` and ``numberOfResults``
  positive integers; otherwise ``400`` (status unconfirmed).
* ``ExaAuthToken: <cluster auth token>`` required (header name unconfirmed): else ``401`` (body unconfirmed:
  ``{"message": "Unauthorized"}``).
* Times are epoch **milliseconds**; ``accessStatus`` words ("Account is active", "Account deleted"...).
* Rate limits are unconfirmed: over this simulator's budget a bare ``429``.
"""
from __future__ import annotations

import random

from nexus_sync.simulator import BadRequest, Request, Response, data, json_response, register, route
from nexus_sync.simulator.vendor import VendorSim

UNITS = ("h", "d", "w", "M")
_FIRST = ["ana", "bo", "chen", "dara", "eli", "farah", "gus", "hana", "ivo", "jun", "kai", "lena"]
_DEPTS = ["operations", "finance", "engineering", "sales", "hr", "legal"]
_STATUS = ["Account is active"] * 6 + ["Account disabled", "Account deleted", "Account locked"]


def _session(rng: data.FastRandom, username: str, start: int, score: float) -> dict:
    return {"sessionId": f"{username}-{start // 1000}", "username": username, "startTime": start, "endTime": 0,
            "initialRiskScore": rng.below(40), "riskScore": score, "numOfReasons": 1 + rng.below(9),
            "loginHost": rng.pick(["lt-01", "ws-22", "vpn-gw", "jump-3"]), "label": rng.pick(["", "vpn-in"]),
            "accounts": [username], "numOfAccounts": 1, "zones": [], "numOfZones": 0,
            "numOfAssets": 1 + rng.below(12), "numOfEvents": rng.below(50000), "numOfSecurityEvents": rng.below(50)}


@data.register_generator("exabeam_notable_users")
def generate(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "exabeam_notable_users", "records")
    out = []
    for i in range(size):
        username = f"{rng.pick(_FIRST)}.{i}"
        first = rng.between(data.DATA_START, data.DATA_EPOCH - 30 * data.DAY) * 1000
        last = (data.DATA_EPOCH - rng.below(2 * data.DAY)) * 1000
        score = round(90 + rng.random() * 200, 2)
        dept = rng.pick(_DEPTS)
        out.append({
            "user": {
                "username": username, "riskScore": score, "averageRiskScore": round(score * 0.8, 2),
                "pastScores": [round(score * 0.7, 4), round(score * 0.9, 4)],
                "lastSessionId": f"{username}-{last // 1000}", "firstSeen": first, "lastSeen": last,
                "lastActivityType": "Account is active", "accessStatus": rng.pick(_STATUS),
                "lastActivityTime": last,
                "info": {"location": rng.pick(["dallas", "atlanta", "berlin", "remote"]),
                         "email": f"{username}@corp.example", "employeeType": rng.pick(["employee", "contractor"]),
                         "fullName": f"{username.split('.')[0].title()} Example{i}", "department": dept,
                         "title": rng.pick(["analyst", "engineer", "director", "admin"]),
                         "dn": f"cn={username},ou=users,dc=corp,dc=example", "group": f"{dept},vpn-users"},
                "labels": rng.pick([[], ["privileged_user"], ["service_account"]]), "pendingRiskTransfers": [],
            },
            "userFullName": f"{username.split('.')[0].title()} Example{i}",
            "isExecutive": rng.random() < 0.05, "highestRiskScore": int(score + rng.below(30)),
            "highestRiskSession": _session(rng, username, last, score),
            "notableSessionIds": [f"{username}-{last // 1000}"], "incidentIds": [],
        })
    return out


@register
class ExabeamNotableUsersSim(VendorSim):
    name = "exabeam_notable_users"
    default_credentials = {"token": "sim-exabeam-aa-cluster-token-5e1f0c"}

    def record_id(self, record: dict) -> str:
        return str(record["user"]["username"])

    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"message": message})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        return Response(429, b"Too Many Requests", content_type="text/plain")

    def authenticate(self, req: Request) -> Response | None:
        token = req.headers.get("ExaAuthToken")
        return None if token == self.credentials["token"] else self.error(401, "Unauthorized")

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        at = data.mutation_time(rng, round_no) * 1000
        user = {**record["user"], "riskScore": round(90 + rng.random() * 200, 2),  # the latest session's score
                "lastSeen": at, "lastActivityTime": at, "lastSessionId": f"{record['user']['username']}-{at // 1000}"}
        if rng.random() < 0.2:
            user["accessStatus"] = rng.choice(["Account deleted", "Account disabled"])
        return {**record, "user": user, "notableSessionIds": [*record["notableSessionIds"], user["lastSessionId"]]}

    @route("GET", r"/uba/api/users/notable")
    def notable(self, req: Request) -> Response:
        unit = req.arg("unit") or "d"
        if unit not in UNITS:
            raise BadRequest(f"unit: one of {', '.join(UNITS)}")
        req.int_arg("num", 1, 1, None)
        limit = req.int_arg("numberOfResults", 10, 1, None)
        with self.lock:
            rows = [self.records[rid] for rid in self.order]
        rows.sort(key=lambda r: (-r["user"]["riskScore"], r["user"]["username"]))
        return json_response(200, {"users": rows[:limit]})
