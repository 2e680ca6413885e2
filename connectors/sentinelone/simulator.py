"""SentinelOne agents, as in ../shared/vendor-apis.md §3.

Served under ``/sentinelone``:

* ``GET /web/api/v2.1/agents?limit=&cursor=&sortBy=&sortOrder=&osTypes=&computerName__contains=
  &updatedAt__gt=&updatedAt__gte=&updatedAt__lt=&updatedAt__lte=`` → ``{"data": [...],
  "pagination": {"nextCursor", "totalItems"}}``. ``limit`` 1..1000 (default 10); ``nextCursor``
  is an opaque base64 of ``agent_id:<last id>`` and null on the last page.
  ``isDecommissioned`` / ``isUninstalled`` ("true", "false" or "true,false": include active, decommissioned or
  both) default to "false": decommissioned agents are left out unless asked for (the console's default view;
  for isUninstalled the default is unconfirmed). Linux agents report their ``lo`` interface (127.0.0.1, ::1,
  MAC 00:00:00:00:00:00) like any other.
* ``Authorization: ApiToken <token>`` required, else 401.
* Knob ``short_listing`` (N): the listing leaves out its last N agents while ``totalItems`` still counts them;
  ``remove_agents(n)`` deletes agents at the vendor (``reset`` brings them back).
* Errors are ``{"errors": [{"code", "title", "detail"}]}``. A throttled request gets a bare 429
  in that shape: the vendor's limits and headers are unconfirmed, so no Retry-After is sent.
"""
from __future__ import annotations

import base64
import binascii
import random

from nexus_sync.simulator import BadRequest, Request, Response, VendorSim, data, json_response, register, route

MAX_LIMIT = 1000
DEFAULT_LIMIT = 10
_TIME_FILTERS = {"updatedAt__gt": ">", "updatedAt__gte": ">=", "updatedAt__lt": "<", "updatedAt__lte": "<="}
_ERRORS = {400: (4000010, "Validation Error"), 401: (4010010, "Authentication Failed"),
           404: (4040010, "Resource not found"), 405: (4050010, "Method Not Allowed"),
           429: (4290010, "Too Many Requests"), 500: (5000010, "Server Error"), 503: (5030010, "Service Unavailable")}
_OS = {  # osType: (osName, osRevision, machineType) choices
    "windows": [("Windows 11 Pro", "22631", "laptop"), ("Windows 10 Enterprise", "19045", "desktop"),
                ("Windows Server 2022 Standard", "20348", "server")],
    "macos": [("macOS", "14.5", "laptop"), ("macOS", "15.0", "laptop")],
    "linux": [("Ubuntu 22.04.4 LTS", "5.15.0-112-generic", "server"), ("Red Hat Enterprise Linux 9.3", "5.14.0-362", "server")],
}
_AGENTS = ["23.3.2.12", "23.4.2.14", "24.1.1.6", "24.1.4.2"]
_SITES = ["HQ", "Branch-EU", "Datacenter", "Remote"]


def _us(ts: float) -> str:
    """2024-06-01T11:22:33.123456Z: SentinelOne times carry microseconds."""
    return f"{data.iso_z(int(ts))[:-1]}.{int(round((ts % 1) * 1e6)) % 1_000_000:06d}Z"


def _mac(rng: data.FastRandom) -> str:
    return "-".join(f"{rng.getrandbits(8):02X}" for _ in range(6))


def _interfaces(os_type: str, ip: str, mac: str) -> list[dict]:
    nics = [{"name": "Ethernet" if os_type == "windows" else "eth0", "inet": [ip], "inet6": [], "physical": mac}]
    if os_type == "linux":  # the agent lists every interface, loopback included
        nics.append({"name": "lo", "inet": ["127.0.0.1"], "inet6": ["::1"], "physical": "00:00:00:00:00:00"})
    return nics


@data.register_generator("sentinelone")
def generate(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "sentinelone", "records")
    retired = data.vendor_rng(seed, "sentinelone", "decommissioned")  # its own stream: the rest stays as it was
    next_id = 1_200_000_000_000_000_000
    out = []
    for i in range(size):
        next_id += 1 + rng.below(10**12)  # snowflake-like: ascending with generation order
        os_type = rng.pick(["windows"] * 6 + ["macos"] * 2 + ["linux"] * 2)
        os_name, revision, machine = rng.pick(_OS[os_type])
        registered = rng.between(data.DATA_START, data.DATA_EPOCH - 30 * data.DAY)
        active = rng.between(registered, data.DATA_EPOCH - 60) + rng.random()
        ip = f"10.{rng.below(256)}.{rng.below(256)}.{1 + rng.below(254)}"
        decommissioned = retired.random() < 0.03
        out.append({
            "id": str(next_id), "uuid": f"{rng.getrandbits(128):032x}",
            "computerName": f"{'srv' if machine == 'server' else 'lt'}-{i:05d}",
            "osName": os_name, "osType": os_type, "osRevision": revision, "agentVersion": rng.pick(_AGENTS),
            "lastActiveDate": _us(active), "externalIp": f"198.51.100.{1 + rng.below(254)}", "lastIpToMgmt": ip,
            "networkInterfaces": _interfaces(os_type, ip, _mac(rng)),
            "isActive": rng.random() < 0.8 and not decommissioned, "infected": rng.random() < 0.03,
            "isDecommissioned": decommissioned, "isUninstalled": decommissioned and retired.random() < 0.3,
            "networkStatus": rng.pick(["connected"] * 8 + ["disconnected", "connecting"]),
            "machineType": machine, "siteName": rng.pick(_SITES), "domain": "corp.example" if os_type == "windows" else None,
            "serialNumber": f"SN{rng.getrandbits(40):010X}", "registeredAt": _us(registered + rng.random()),
            "updatedAt": _us(min(data.DATA_EPOCH - 1, active + rng.below(600))),
        })
    return out


@register
class SentinelOneSim(VendorSim):
    name = "sentinelone"
    id_field = "id"
    default_credentials = {"token": "sim-s1-token"}
    default_rate_limit = 1000  # unconfirmed (vendor-apis.md §3)
    # a listing that under-delivers: its last N agents are left out of the pages while totalItems still counts
    # them (what a vendor dropping records mid-listing looks like to a client)
    extra_knobs = {"short_listing": 0}

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        new = dict(record)
        os_name, revision, _ = rng.choice(_OS[record["osType"]])
        new.update(osName=os_name, osRevision=revision, agentVersion=rng.choice(_AGENTS),
                   networkStatus=rng.choice(["connected", "disconnected"]), infected=rng.random() < 0.1)
        ts = data.mutation_time(rng, round_no) + rng.random()
        new["lastActiveDate"], new["updatedAt"] = _us(ts - rng.randrange(60)), _us(ts)
        return new

    def decommission_agents(self, count: int) -> list[str]:
        """Decommission `count` agents (deterministic per seed and round): out of the default listing,
        isDecommissioned true, inactive, updatedAt now."""
        with self.lock:
            self.round += 1
            rng = data.vendor_rng(self.seed, self.name, "decommission", self.round)
            live = [rid for rid in self.order if not self.records[rid]["isDecommissioned"]]
            ids = sorted(rng.sample(live, min(count, len(live))), key=self.position.__getitem__)
            ts = data.mutation_time(rng, self.round) + rng.random()
            for rid in ids:
                self.records[rid] = {**self.records[rid], "isDecommissioned": True, "isActive": False,
                                     "networkStatus": "disconnected", "updatedAt": _us(ts)}
            self.version += 1
            self.on_data_changed()
            return ids

    def remove_agents(self, count: int) -> list[str]:
        """Delete `count` agents at the vendor (deterministic per seed and round): gone from every listing."""
        with self.lock:
            self.round += 1
            rng = data.vendor_rng(self.seed, self.name, "remove", self.round)
            ids = sorted(rng.sample(self.order, min(count, len(self.order))), key=self.position.__getitem__)
            gone = set(ids)
            self.order = [rid for rid in self.order if rid not in gone]
            self.position = {rid: i for i, rid in enumerate(self.order)}
            for rid in ids:
                del self.records[rid]
            self.version += 1
            self.on_data_changed()
            return ids

    def error(self, status: int, message: str) -> Response:
        code, title = _ERRORS.get(status, (5000010, "Server Error"))
        return json_response(status, {"errors": [{"code": code, "title": title, "detail": message}], "data": None})

    def authenticate(self, req: Request) -> Response | None:
        scheme, _, token = (req.headers.get("Authorization") or "").partition(" ")
        if scheme == "ApiToken" and token.strip() == self.credentials["token"]:
            return None
        return self.error(401, "Authentication Failed")

    @route("GET", "/web/api/v2.1/agents")
    def list_agents(self, req: Request) -> Response:
        limit = req.int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        if req.arg("sortBy", "id") != "id":
            raise BadRequest("sortBy: the simulator sorts by id only")
        desc = (req.arg("sortOrder") or "asc").lower() == "desc"
        checks = []
        for param, op in _TIME_FILTERS.items():
            if value := req.arg(param):
                try:
                    checks.append((op, _us(data.parse_iso(value).timestamp())))
                except ValueError:
                    raise BadRequest(f"{param}: not an ISO-8601 timestamp") from None
        os_types = {t for raw in req.args("osTypes") for t in raw.split(",") if t}
        name_part = (req.arg("computerName__contains") or "").lower()
        flags = {name: _booleans(req.arg(name), name) for name in ("isDecommissioned", "isUninstalled")}

        def keep(rec: dict) -> bool:
            ts = rec["updatedAt"]
            return (all({">": ts > v, ">=": ts >= v, "<": ts < v, "<=": ts <= v}[op] for op, v in checks)
                    and (not os_types or rec["osType"] in os_types) and name_part in rec["computerName"].lower()
                    and all(rec[name] in wanted for name, wanted in flags.items()))

        with self.lock:
            if checks or os_types or name_part or desc or any(len(w) < 2 for w in flags.values()):
                ids = [rid for rid in (reversed(self.order) if desc else self.order) if keep(self.records[rid])]
                where = {rid: i for i, rid in enumerate(ids)}
            else:  # the common full listing: no per-page scan
                ids, where = self.order, self.position
            start = 0
            if cursor := req.arg("cursor"):
                after = _decode_cursor(cursor)
                if after not in where:
                    raise BadRequest("cursor: invalid or stale cursor")
                start = where[after] + 1
            listed = ids[start:start + limit]
            dropped = set(ids[len(ids) - self.faults["short_listing"]:]) if self.faults["short_listing"] else set()
            page = [self.records[rid] for rid in listed if rid not in dropped]
        more = start + len(listed) < len(ids)
        cursor = base64.b64encode(f"agent_id:{listed[-1]}".encode()).decode() if more else None
        return json_response(200, {"data": page, "pagination": {"nextCursor": cursor, "totalItems": len(ids)}})


def _decode_cursor(cursor: str) -> str:
    try:
        kind, _, rid = base64.b64decode(cursor, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        kind, rid = "", ""
    if kind != "agent_id" or not rid:
        raise BadRequest("cursor: invalid cursor")
    return rid


def _booleans(raw: str | None, name: str) -> set[bool]:
    """`true`, `false` or both, comma separated (the default: only false, i.e. active / installed agents)."""
    if not raw:
        return {False}
    words = {w.strip().lower() for w in raw.split(",") if w.strip()}
    if not words or words - {"true", "false"}:
        raise BadRequest(f"{name}: expected true, false or true,false")
    return {w == "true" for w in words}
