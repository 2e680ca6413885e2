"""Palo Alto Cortex XDR endpoints, as in ../shared/vendor-apis-2.md §21 (the dialect — signed requests,
request_data, the 100 window cap, gzip, bare 429 — in nexus_sync/simulator/xdr.py).

Served under ``/cortexxdr_endpoints`` (``https://api-{fqdn}``):

* ``POST /public_api/v1/endpoints/get_endpoint`` → ``{"reply": {"total_count", "result_count",
  "endpoints": [...]}}``, filtered (``endpoint_id_list``, ``endpoint_status``, ``hostname``, ``platform``,
  ``isolate``, ``first_seen``, ``last_seen``) and paged by ``search_from``/``search_to``.
* ``POST /public_api/v1/endpoints/get_endpoints`` → every endpoint, unpaged, as a **bare list** in ``reply``
  (the other shape of quirk 2).
* Enums as the vendor spells them: ``AGENT_TYPE_*``, ``AGENT_OS_*``, ``AGENT_ISOLATED/UNISOLATED``; times in
  epoch ms; ``endpoint_id`` 32 hex; ``ip`` and ``group_name`` lists.
"""
from __future__ import annotations

import random

from nexus_sync.simulator import Request, Response, data, register, route
from nexus_sync.simulator.xdr import XdrSim

_TYPES = ["AGENT_TYPE_WORKSTATION"] * 6 + ["AGENT_TYPE_SERVER"] * 3 + ["AGENT_TYPE_LAPTOP"] * 2 + ["AGENT_TYPE_MOBILE"]
_OS = [("AGENT_OS_WINDOWS", "10.0.19045"), ("AGENT_OS_WINDOWS", "10.0.20348"), ("AGENT_OS_LINUX", "5.15.0-105"),
       ("AGENT_OS_MAC", "14.4.1")]
_STATUSES = ["CONNECTED"] * 8 + ["DISCONNECTED", "LOST", "UNINSTALLED"]
_GROUPS = ["Servers", "Finance", "Engineering", "Kiosks"]
_USERS = ["acme\\jdoe", "acme\\asmith", "root", "acme\\svc-backup"]


@data.register_generator("cortexxdr_endpoints")
def generate(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "cortexxdr_endpoints", "records")
    out = []
    for i in range(size):
        os_type, os_version = rng.pick(_OS)
        first = rng.between(data.DATA_START, data.DATA_EPOCH - 30 * data.DAY)
        last = rng.between(first, data.DATA_EPOCH - 60)
        name = f"{'srv' if i % 4 == 0 else 'ws'}-{i:04d}"
        out.append({
            "endpoint_id": f"{rng.getrandbits(128):032x}", "endpoint_name": name, "endpointTags": "",
            "endpoint_type": rng.pick(_TYPES), "endpoint_status": rng.pick(_STATUSES), "os_type": os_type,
            "os_version": os_version, "ip": [f"10.{i // 250 % 250}.{i % 250}.{10 + rng.below(200)}"], "ipv6": [],
            "public_ip": f"203.0.113.{rng.below(254) + 1}", "users": rng.sample(_USERS, 1 + rng.below(2)),
            "domain": "acme.local" if os_type == "AGENT_OS_WINDOWS" else "", "alias": "",
            "first_seen": first * 1000 + rng.below(1000), "last_seen": last * 1000 + rng.below(1000),
            "content_version": "1270-89871", "installation_package": "Standard", "active_directory": None,
            "install_date": first * 1000, "endpoint_version": f"8.{rng.below(4)}.0.{rng.below(90000)}",
            "is_isolated": "AGENT_ISOLATED" if rng.random() < 0.05 else "AGENT_UNISOLATED",
            "isolated_date": None, "group_name": [rng.pick(_GROUPS)], "operational_status": "PROTECTED",
            "scan_status": "SCAN_STATUS_NONE", "mac_address": [f"00:50:56:{i >> 8 & 255:02x}:{i & 255:02x}:0a"],
        })
    return out


@register
class CortexXdrEndpointsSim(XdrSim):
    name = "cortexxdr_endpoints"
    id_field = "endpoint_id"
    reply_key = "endpoints"
    filter_fields = {"endpoint_id_list": "endpoint_id", "endpoint_status": "endpoint_status",
                     "hostname": "endpoint_name", "platform": "os_type", "isolate": "is_isolated",
                     "first_seen": "first_seen", "last_seen": "last_seen"}

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        ts = data.mutation_time(rng, round_no) * 1000 + rng.randrange(1000)
        new = {**record, "last_seen": ts}
        if rng.random() < 0.3:
            new["endpoint_status"] = rng.choice([s for s in ("CONNECTED", "DISCONNECTED", "LOST")
                                                 if s != record["endpoint_status"]])
        return new

    @route("POST", r"/public_api/v1/endpoints/get_endpoint")
    def get_endpoint(self, req: Request) -> Response:
        return self.listing(req)

    @route("POST", r"/public_api/v1/endpoints/get_endpoints")
    def get_endpoints(self, req: Request) -> Response:
        with self.lock:
            rows = [self.records[rid] for rid in self.order]
        return self.reply(req, {"reply": rows})
