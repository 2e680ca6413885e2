"""Microsoft Defender for Endpoint machines, as in ../shared/vendor-apis.md §2.

Served under ``/defender``:

* ``POST /{tenant}/oauth2/v2.0/token``: the Entra ID token endpoint (see _microsoft.py), scope
  ``https://api.securitycenter.microsoft.com/.default``.
* ``GET /api/machines?$top=&$skip=&$filter=`` → ``{"@odata.context", "value": [...]}`` plus an absolute
  ``@odata.nextLink`` (same query, next ``$skip``) while machines remain. ``$top`` 1..10000 (default
  10000). ``$filter``: ``lastSeen``/``firstSeen`` with gt/ge/lt/le and ``eq '<text>'`` on healthStatus,
  osPlatform, computerDnsName, onboardingStatus, exposureLevel, riskScore, joined by ``and``.
* 100 calls/min; over → 429 ``TooManyRequests`` with ``Retry-After`` (Graph/ARM practice: unconfirmed for MDE).
* ``ipAddresses`` lists every interface address the sensor reports, the loopback pseudo-interface's
  127.0.0.1 and ::1 (no MAC) included, on every machine.
"""
from __future__ import annotations

import random
import re

from nexus_sync.simulator import BadRequest, Request, Response, data, json_response, register, route
from nexus_sync.simulator.microsoft import MicrosoftSim

MAX_TOP = 10_000
_CLAUSE = re.compile(r"^\s*(?P<field>\w+)\s+(?P<op>eq|gt|ge|lt|le)\s+(?:'(?P<text>[^']*)'|(?P<bare>\S+))\s*$")
_TIME_FIELDS = {"lastSeen", "firstSeen"}
_TEXT_FIELDS = {"healthStatus", "osPlatform", "computerDnsName", "onboardingStatus", "exposureLevel", "riskScore"}
_PLATFORMS = [("Windows11", "23H2", 22631), ("Windows11", "22H2", 22621), ("Windows10", "22H2", 19045),
              ("WindowsServer2022", "21H2", 20348), ("WindowsServer2019", "1809", 17763)]
_HEALTH = ["Active"] * 8 + ["Inactive", "ImpairedCommunication", "NoSensorData"]
_LEVELS = ["None", "Informational", "Low", "Medium", "High"]
LOOPBACK = ({"ipAddress": "127.0.0.1", "macAddress": "", "operationalStatus": "Up"},
            {"ipAddress": "::1", "macAddress": "", "operationalStatus": "Up"})


def _ts7(ts: float) -> str:
    """MDE times: 2024-06-01T09:15:00.7654321Z (seven fractional digits)."""
    return f"{data.iso_z(int(ts))[:-1]}.{int((ts % 1) * 1e7):07d}Z"


def _mac(rng: data.FastRandom) -> str:
    return f"{rng.getrandbits(48):012X}"


@data.register_generator("defender")
def generate(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "defender", "records")
    out = []
    for i in range(size):
        platform, version, build = rng.pick(_PLATFORMS)
        first = rng.between(data.DATA_START, data.DATA_EPOCH - 30 * data.DAY) + rng.random()
        last = rng.between(int(first), data.DATA_EPOCH - 60) + rng.random()
        ip = f"10.{rng.below(256)}.{rng.below(256)}.{1 + rng.below(254)}"
        server = platform.startswith("WindowsServer")
        out.append({
            "id": f"{rng.getrandbits(160):040x}",
            "computerDnsName": f"{'srv' if server else 'lap'}-{i:05d}.corp.example",
            "firstSeen": _ts7(first), "lastSeen": _ts7(last), "osPlatform": platform, "version": version,
            "osBuild": build, "lastIpAddress": ip, "lastExternalIpAddress": f"203.0.113.{1 + rng.below(254)}",
            "healthStatus": rng.pick(_HEALTH), "onboardingStatus": "Onboarded", "deviceValue": "Normal",
            "riskScore": rng.pick(_LEVELS), "exposureLevel": rng.pick(_LEVELS[1:]),
            "aadDeviceId": None if server else "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}".format(
                rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(48)),
            "machineTags": rng.sample(["finance", "vip", "kiosk", "pci"], rng.below(3)),
            "rbacGroupName": rng.pick(["Servers", "Workstations", "UnassignedGroup"]),
            "ipAddresses": [{"ipAddress": ip, "macAddress": _mac(rng), "operationalStatus": "Up"},
                            {"ipAddress": "fe80::" + f"{rng.getrandbits(16):x}", "macAddress": "", "operationalStatus": "Up"},
                            *LOOPBACK],
        })
    return out


@register
class DefenderSim(MicrosoftSim):
    name = "defender"
    id_field = "id"
    scope = "https://api.securitycenter.microsoft.com/.default"
    default_credentials = {"client_id": "sim-mde-client", "client_secret": "sim-mde-secret"}
    default_rate_limit = 100  # "100 calls/min and 1,500 calls/hour"

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        new = dict(record)
        platform, version, build = rng.choice([p for p in _PLATFORMS if p[0] == record["osPlatform"]])
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        nics = [dict(n) for n in record["ipAddresses"]]
        nics[0]["ipAddress"] = ip
        new.update(version=version, osBuild=build + rng.randrange(1, 50), lastIpAddress=ip, ipAddresses=nics,
                   healthStatus=rng.choice(_HEALTH), riskScore=rng.choice(_LEVELS),
                   lastSeen=_ts7(data.mutation_time(rng, round_no) + rng.random()))
        return new

    @staticmethod
    def _predicate(flt: str):
        clauses = []
        for part in re.split(r"\s+and\s+", flt.strip()) if flt.strip() else []:
            m = _CLAUSE.match(part)
            if not m or m["field"] not in _TIME_FIELDS | _TEXT_FIELDS:
                raise BadRequest(f"Invalid filter clause: {part!r}")
            fld, op, value = m["field"], m["op"], m["text"] if m["text"] is not None else m["bare"]
            if fld in _TIME_FIELDS and not re.fullmatch(r".*\.\d{7}Z", value):  # compare as MDE strings
                try:
                    dt = data.parse_iso(re.sub(r"(\.\d{6})\d+", r"\1", value))
                except ValueError:
                    raise BadRequest(f"Invalid DateTimeOffset in filter: {value!r}") from None
                value = f"{data.iso_z(int(dt.timestamp()))[:-1]}.{dt.microsecond:06d}0Z"
            if fld in _TEXT_FIELDS and op != "eq":
                raise BadRequest(f"Operator {op} is not supported on {fld}")
            clauses.append((fld, op, value))
        ops = {"eq": str.__eq__, "gt": str.__gt__, "ge": str.__ge__, "lt": str.__lt__, "le": str.__le__}
        return lambda rec: all(rec.get(f) is not None and ops[op](rec[f], v) for f, op, v in clauses)

    @route("GET", "/api/machines")
    def list_machines(self, req: Request) -> Response:
        top = req.int_arg("$top", MAX_TOP, 1, MAX_TOP)
        skip = req.int_arg("$skip", 0, 0)
        flt = req.arg("$filter") or ""
        keep = self._predicate(flt)
        with self.lock:
            ids = [rid for rid in self.order if keep(self.records[rid])] if flt else self.order
            page = [self.records[rid] for rid in ids[skip:skip + top]]
        body = {"@odata.context": f"{req.base_url}/api/$metadata#Machines", "value": page}
        if skip + len(page) < len(ids):
            body["@odata.nextLink"] = self.next_link(req, **{"$filter": flt, "$top": top, "$skip": skip + top})
        return json_response(200, body)
