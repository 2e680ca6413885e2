"""Carbon Black Cloud devices, as in ../shared/vendor-apis.md §4 (the dialect — token format, org key path,
1-based ``start``, bare 429 — in nexus_sync/simulator/carbonblack.py).

Served under ``/carbonblack_devices`` (``https://<env>.conferdeploy.net``):

* ``POST /appservices/v6/orgs/{org_key}/devices/_search`` → ``{"results": [...], "num_found": N}``;
  ``criteria.status`` (``["ALL"]`` or statuses) and ``criteria.os`` filter.
* ``GET /appservices/v6/orgs/{org_key}/devices/{id}`` → one device.
* ``name`` may be ``DOMAIN\\host``; ``mac_address`` 12 hex without separators; times ISO-8601 ms Z; ``id`` int.
"""
from __future__ import annotations

import random

import orjson

from nexus_sync.simulator import BadRequest, Request, Response, data, json_response, register, route
from nexus_sync.simulator.carbonblack import CarbonBlackSim

_OS = [("WINDOWS", "Windows 10 x64"), ("WINDOWS", "Windows Server 2019 x64"), ("LINUX", "Ubuntu 22.04"),
       ("MAC", "MAC OS X 14.4.1")]
_STATUSES = ["REGISTERED"] * 8 + ["DEREGISTERED", "BYPASS", "ERROR"]
_POLICIES = ["Standard", "Advanced", "Monitored"]


@data.register_generator("carbonblack_devices")
def generate(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "carbonblack_devices", "records")
    out = []
    for i in range(size):
        os_name, os_version = rng.pick(_OS)
        registered = rng.between(data.DATA_START, data.DATA_EPOCH - 30 * data.DAY)
        contact = rng.between(registered, data.DATA_EPOCH - 60)
        host = f"ws-{i:04d}"
        out.append({
            "id": 4_400_000 + i * 3 + rng.below(3), "name": f"CORP\\{host}" if os_name == "WINDOWS" else host,
            "os": os_name, "os_version": os_version,
            "last_internal_ip_address": f"10.9.{i // 250 % 250}.{i % 250 + 1}",
            "last_external_ip_address": f"203.0.113.{rng.below(254) + 1}",
            "mac_address": f"00155d{rng.getrandbits(24):06x}",
            "last_contact_time": data.iso_ms_z(contact, rng.below(1000)),
            "last_reported_time": data.iso_ms_z(contact, rng.below(1000)),
            "registered_time": data.iso_ms_z(registered, rng.below(1000)),
            "status": rng.pick(_STATUSES), "sensor_version": f"4.0.{rng.below(3)}.{rng.below(900)}",
            "policy_name": rng.pick(_POLICIES), "quarantined": rng.random() < 0.05,
            "login_user_name": f"CORP\\user{i}" if os_name == "WINDOWS" else None,
            "email": f"user{i}@example.com", "vuln_severity": rng.pick([None, "LOW", "MODERATE", "CRITICAL"]),
            "deployment_type": "WORKLOAD" if "Server" in os_version else "ENDPOINT",
        })
    return out


@register
class CarbonBlackDevicesSim(CarbonBlackSim):
    name = "carbonblack_devices"
    id_field = "id"

    def render(self, obj) -> bytes:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)  # device ids are ints: truth() is keyed by them

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        ts = data.mutation_time(rng, round_no)
        new = {**record, "last_contact_time": data.iso_ms_z(ts, rng.randrange(1000))}
        if rng.random() < 0.4:
            new["policy_name"] = rng.choice([p for p in _POLICIES if p != record["policy_name"]])
        return new

    @route("POST", r"/appservices/v6/orgs/(?P<org_key>[^/]+)/devices/_search")
    def search(self, req: Request, org_key: str) -> Response:
        body = self.search_body(req, org_key)
        criteria = body.get("criteria") or {}
        statuses = criteria.get("status") or ["ALL"]
        systems = criteria.get("os") or []
        if not isinstance(statuses, list) or not isinstance(systems, list):
            raise BadRequest("criteria values must be lists")
        with self.lock:
            rows = [self.records[rid] for rid in self.order]
        rows = [r for r in rows if ("ALL" in statuses or r["status"] in statuses) and (not systems or r["os"] in systems)]
        return self.results(rows, body)

    @route("GET", r"/appservices/v6/orgs/(?P<org_key>[^/]+)/devices/(?P<device_id>[0-9]+)")
    def device(self, req: Request, org_key: str, device_id: str) -> Response:
        self.check_org(org_key)
        with self.lock:
            found = self.records.get(int(device_id))
        return json_response(200, found) if found else self.error(404, f"device {device_id} not found")
