"""Cybereason sensors, as in ../shared/vendor-apis-2.md §22.

Served under ``/cybereason`` (the tenant's ``https://<tenant>.cybereason.net``):

* The console session (login form → JSESSIONID, 302 to the login page when it is over, logout):
  nexus_sync/simulator/cybereason.py, shared with the Malops.
* ``POST /rest/sensors/query`` ``{"limit", "offset", "filters", "sortDirection"}``: ``offset`` is a **page
  number** (0-based), ``limit`` ≤ 30000; filters ``{"fieldName", "operator": Equals|NotEquals, "values"}`` on
  ``status``, ``osType``, ``groupName``; others → 400 ``{"status": "FAILURE", "message"}``. Answer
  ``{"sensors", "totalResults", "hasMoreResults"}``. Sensor ``status`` Online/Offline/Stale/Archived (Archived =
  decommissioned: a connector must filter them out), epoch-ms times.
* Rate limits are unconfirmed (no headers in the SDK): an overload answers a bare 429.
"""
from __future__ import annotations

import random
from typing import Any, Callable

from nexus_sync.simulator import BadRequest, Request, Response, data, json_response, register, route
from nexus_sync.simulator.cybereason import CybereasonSessionSim

STATUSES = ["Online"] * 6 + ["Offline"] * 2 + ["Stale", "Archived"]
OS = [("WINDOWS", "Windows_10"), ("WINDOWS", "Windows_11"), ("WINDOWS", "Windows_Server_2019"),
      ("LINUX", "Ubuntu_22_04"), ("OSX", "macOS_14")]
GROUPS = ["Workstations", "Servers", "Laptops", "Default"]
FILTER_FIELDS = {"status", "osType", "groupName"}
MAX_LIMIT = 30000


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
class CybereasonSim(CybereasonSessionSim):
    name = "cybereason"
    id_field = "sensorId"

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """A sensor checks in (new heartbeat), goes offline / online, or gets a new version."""
        new = {**record, "lastPylumInfoMsgUpdateTime": data.mutation_time(rng, round_no) * 1000}
        if rng.random() < 0.5:
            new["status"] = "Offline" if record["status"] == "Online" else "Online"
        else:
            new["version"] = f"23.2.{rng.randrange(300)}.1"
        return new

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
