"""Rapid7 InsightVM console assets (API v3), as in ../shared/vendor-apis.md §9.

Served under ``/rapid7``:

* ``GET /api/3/assets?page=&size=&sort=`` → ``{"resources": [...], "page": {"number", "size", "totalPages",
  "totalResources"}, "links": [{"href", "rel": "self"}]}``. ``page`` is 0-based; ``size`` 1..500 (default 10);
  ``sort`` ``id,ASC`` (default) or ``id,DESC``. A page past the end has no resources.
* HTTP Basic required, else 401. Errors are ``{"status", "message", "links"}``.
* No rate limit is documented: when throttled (fault injection) a bare 429 is sent, without headers.

Data as a console holds it: about a third of the assets were scanned across a router, so no MAC is known
for them (``mac`` absent, ``addresses[]`` entries with an ``ip`` only), and some assets list an IPv6 address,
also without a MAC (issue 11, #9). ``rescan(fraction)`` is a new scan of some assets: new vulnerability
counts and risk score, and the scan in ``history``, nothing else (issue 11, #10).
"""
from __future__ import annotations

import base64
import math
import random

import orjson

from nexus_sync.simulator import BadRequest, Request, Response, VendorSim, data, json_response, register, route

MAX_SIZE, DEFAULT_SIZE = 500, 10
_OS = [("Windows", "Windows Server 2019", "1809", "Microsoft Windows Server 2019"),
       ("Windows", "Windows 10 Enterprise", "22H2", "Microsoft Windows 10 Enterprise Edition"),
       ("Linux", "Ubuntu Linux", "22.04", "Ubuntu Linux 22.04"), ("Linux", "Red Hat Enterprise Linux", "9.3", "Red Hat Enterprise Linux 9.3")]


def _vulns(rng: random.Random) -> dict:
    critical, severe, moderate = rng.randrange(5), rng.randrange(20), rng.randrange(10)
    return {"critical": critical, "severe": severe, "moderate": moderate, "total": critical + severe + moderate,
            "exploits": rng.randrange(critical + 1), "malwareKits": 0}


def _rescanned(record: dict, rng: random.Random, round_no: int) -> dict:
    """A copy of record after a new scan: new vulnerability counts and risk, the scan appended to history."""
    vulns = _vulns(rng)
    risk = round(vulns["critical"] * 900 + vulns["severe"] * 300 + rng.random() * 100, 1)
    scan = {"date": data.iso_z(data.mutation_time(rng, round_no)), "type": "SCAN", "scanId": 10_000 + round_no}
    return {**record, "vulnerabilities": vulns, "riskScore": risk, "rawRiskScore": risk,
            "history": [*record["history"], scan]}


@data.register_generator("rapid7")
def generate(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "rapid7", "records")
    out = []
    for i in range(size):
        family, product, version, os_text = rng.pick(_OS)
        host = f"{'fs' if family == 'Windows' else 'app'}-{i:05d}.example.com"
        ip = f"10.{rng.below(256)}.{rng.below(256)}.{1 + rng.below(254)}"
        mac = ":".join(f"{b:02X}" for b in [0x00, 0x50, 0x56, *(rng.getrandbits(8) for _ in range(3))])
        routed = rng.random() < 0.3  # scanned across a router: the console never learns the MAC
        addresses = [{"ip": ip} if routed else {"ip": ip, "mac": mac}]
        if rng.random() < 0.15:  # an IPv6 address, listed without a MAC
            addresses.append({"ip": f"2001:db8:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"})
        scans = sorted(rng.between(data.DATA_START, data.DATA_EPOCH - 3600) for _ in range(1 + rng.below(3)))
        vulns = _vulns(rng)
        risk = round(vulns["critical"] * 900 + vulns["severe"] * 300 + rng.random() * 100, 1)
        out.append({
            "id": 1000 + i, "hostName": host, "hostNames": [{"name": host, "source": "dns"}], "ip": ip,
            **({} if routed else {"mac": mac}), "addresses": addresses, "os": os_text,
            "osFingerprint": {"family": family, "product": product, "version": version,
                              "cpe": {"v2.3": f"cpe:2.3:o:{family.lower()}:{product.lower().replace(' ', '_')}:{version}"}},
            "riskScore": risk, "rawRiskScore": risk, "vulnerabilities": vulns,
            "history": [{"date": data.iso_z(ts), "type": "SCAN", "scanId": 900 + k} for k, ts in enumerate(scans)],
            "ids": [{"id": f"i-{rng.getrandbits(32):08x}", "source": "EC2"}] if rng.random() < 0.2 else [],
        })
    return out


@register
class Rapid7Sim(VendorSim):
    name = "rapid7"
    id_field = "id"
    default_credentials = {"username": "sim-nxadmin", "password": "sim-nxpassword"}
    default_rate_limit = 6000  # none documented

    def render(self, obj) -> bytes:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)  # asset ids are ints: truth() is keyed by them

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """A new scan: vulnerability counts and risk change, and the scan lands in history."""
        new = _rescanned(record, rng, round_no)
        if rng.random() < 0.5:  # an OS update seen by the scan
            family = record["osFingerprint"]["family"]
            _, product, version, os_text = rng.choice([o for o in _OS if o[0] == family])
            new.update(os=os_text, osFingerprint={**record["osFingerprint"], "product": product, "version": version})
        return new

    def rescan(self, fraction: float) -> list[int]:
        """A new scan of round(fraction * size) assets, deterministic from (seed, round): only the scan's own
        results change (counts, risk, history), none of the fields a normalized asset carries but its scan
        date. Returns the rescanned ids."""
        with self.lock:
            self.round += 1
            rng = data.vendor_rng(self.seed, self.name, "rescan", self.round)
            picked = sorted(rng.sample(range(len(self.order)), round(fraction * len(self.order))))
            ids = [self.order[i] for i in picked]
            for rid in ids:
                self.records[rid] = _rescanned(self.records[rid], rng, self.round)
            self.version += 1
            self.on_data_changed()
        return ids

    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"status": status, "message": message, "links": []})

    def authenticate(self, req: Request) -> Response | None:
        scheme, _, value = (req.headers.get("Authorization") or "").partition(" ")
        try:
            pair = base64.b64decode(value.strip(), validate=True).decode() if scheme == "Basic" else ""
        except ValueError:
            pair = ""
        if pair == f"{self.credentials['username']}:{self.credentials['password']}":
            return None
        resp = self.error(401, "An authentication token is required to access this resource.")
        resp.headers.append(("WWW-Authenticate", 'Basic realm="Rapid7 InsightVM"'))
        return resp

    @route("GET", "/api/3/assets")
    def list_assets(self, req: Request) -> Response:
        page = req.int_arg("page", 0, 0)
        size = req.int_arg("size", DEFAULT_SIZE, 1, MAX_SIZE)
        sort = (req.arg("sort") or "id,ASC").split(",")
        if sort[0] != "id" or (len(sort) > 1 and sort[1].upper() not in ("ASC", "DESC")):
            raise BadRequest(f"sort: the simulator sorts by id only, got {req.arg('sort')!r}")
        with self.lock:
            order = self.order[::-1] if len(sort) > 1 and sort[1].upper() == "DESC" else self.order
            chunk = [self.records[rid] for rid in order[page * size:(page + 1) * size]]
            total = len(order)
        return Response(200, self.render({
            "resources": chunk,
            "page": {"number": page, "size": size, "totalPages": math.ceil(total / size), "totalResources": total},
            "links": [{"href": req.url, "rel": "self"}]}))

