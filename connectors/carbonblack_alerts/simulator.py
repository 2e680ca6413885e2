"""Carbon Black Cloud alerts v7, as in ../shared/vendor-apis-2.md §20 (the dialect — token format, org key
path, 1-based ``start``, bare 429 — in nexus_sync/simulator/carbonblack.py).

Served under ``/carbonblack_alerts`` (``https://<env>.conferdeploy.net``):

* ``POST /api/alerts/v7/orgs/{org_key}/alerts/_search`` with ``{"time_range": {"start", "end"}, "criteria",
  "rows", "start", "sort": [{"field", "order"}]}`` → ``{"results": [...], "num_found": N}``. The time range
  keeps alerts whose ``backend_update_timestamp`` lies in it (inclusive); sort by any top-level field.
* v7 field names (``backend_timestamp``, ``backend_update_timestamp``, ``detection_timestamp``,
  ``workflow.status``, ``device_username``...), not v6's; the v6 alerts path is gone (404).
* A mutation re-stamps ``backend_update_timestamp`` (a workflow change, a new event on the alert).
"""
from __future__ import annotations

import random
import uuid

from nexus_sync.simulator import BadRequest, Request, Response, data, register, route
from nexus_sync.simulator.carbonblack import ORG_KEY, CarbonBlackSim

_TYPES = ["CB_ANALYTICS"] * 4 + ["WATCHLIST"] * 3 + ["DEVICE_CONTROL", "HOST_BASED_FIREWALL", "CONTAINER_RUNTIME"]
_REASONS = ["The application powershell.exe invoked another application (cmd.exe).",
            "A known virus (Sality: Keylogger) was detected running.",
            "Process matched watchlist 'ATT&CK Framework' report 'Credential dumping'.",
            "An unknown USB device was blocked."]
_STATUSES = ["OPEN"] * 5 + ["IN_PROGRESS", "CLOSED"]


@data.register_generator("carbonblack_alerts")
def generate(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "carbonblack_alerts", "records")
    out = []
    for i in range(size):
        created = rng.between(data.DATA_EPOCH - 30 * data.DAY, data.DATA_EPOCH - 3600)
        updated = rng.between(created, data.DATA_EPOCH - 60)
        detected = created - rng.below(300)
        out.append({
            "id": str(uuid.UUID(int=rng.getrandbits(128))), "type": rng.pick(_TYPES), "org_key": ORG_KEY,
            "severity": 1 + rng.below(10), "reason": rng.pick(_REASONS), "reason_code": f"R_{rng.below(90):02d}",
            "backend_timestamp": data.iso_ms_z(created, rng.below(1000)),
            "backend_update_timestamp": data.iso_ms_z(updated, rng.below(1000)),
            "detection_timestamp": data.iso_ms_z(detected, rng.below(1000)),
            "first_event_timestamp": data.iso_ms_z(detected - 5, 0), "last_event_timestamp": data.iso_ms_z(detected, 0),
            "user_update_timestamp": None, "device_id": 4_400_000 + rng.below(3000),
            "device_name": f"CORP\\ws-{rng.below(3000):04d}", "device_os": "WINDOWS",
            "device_username": f"CORP\\user{rng.below(500)}", "device_internal_ip": f"10.9.0.{rng.below(250) + 1}",
            "device_external_ip": "203.0.113.77", "policy_name": "Standard", "run_state": "RAN",
            "sensor_action": rng.pick(["ALLOW", "DENY", "TERMINATE"]), "threat_id": f"{rng.getrandbits(64):016X}",
            "alert_url": f"defense-xx.conferdeploy.net/alerts?s[c][query_string]=id:{i}",
            "workflow": {"status": rng.pick(_STATUSES), "change_timestamp": data.iso_ms_z(updated, 0),
                         "changed_by_type": "SYSTEM", "changed_by": "ALERT_CREATION", "closure_reason": "NO_REASON"},
            "determination": {"value": "NONE"}, "process_name": "powershell.exe", "watchlists": [],
        })
    return out


@register
class CarbonBlackAlertsSim(CarbonBlackSim):
    name = "carbonblack_alerts"
    id_field = "id"

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        ts = data.mutation_time(rng, round_no)
        status = rng.choice([s for s in ("OPEN", "IN_PROGRESS", "CLOSED") if s != record["workflow"]["status"]])
        return {**record, "backend_update_timestamp": data.iso_ms_z(ts, rng.randrange(1000)),
                "workflow": {**record["workflow"], "status": status, "change_timestamp": data.iso_ms_z(ts, 0),
                             "changed_by_type": "API", "changed_by": "analyst@example.com"}}

    @route("POST", r"/api/alerts/v7/orgs/(?P<org_key>[^/]+)/alerts/_search")
    def search(self, req: Request, org_key: str) -> Response:
        body = self.search_body(req, org_key)
        with self.lock:
            rows = [self.records[rid] for rid in self.order]
        window = body.get("time_range")
        if window is not None:
            if not isinstance(window, dict):
                raise BadRequest("time_range must be an object")
            try:
                start, end = (data.parse_iso(window[k]) if window.get(k) else None for k in ("start", "end"))
            except (TypeError, ValueError):
                raise BadRequest("time_range start/end must be ISO-8601 times") from None
            rows = [r for r in rows if (start is None or data.parse_iso(r["backend_update_timestamp"]) >= start)
                    and (end is None or data.parse_iso(r["backend_update_timestamp"]) <= end)]
        for order in reversed(body.get("sort") or []):
            if not isinstance(order, dict) or not isinstance(order.get("field"), str):
                raise BadRequest("sort entries are {field, order}")
            field = order["field"]
            rows = sorted(rows, key=lambda r: (str(r.get(field) or ""), r["id"]),
                          reverse=str(order.get("order", "ASC")).upper() == "DESC")
        return self.results(rows, body)
