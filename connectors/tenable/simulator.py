"""Tenable Vulnerability Management vulnerability export, as in ../shared/vendor-apis.md §8.

Served under ``/tenable``:

* ``POST /vulns/export`` ``{"num_assets": N, "filters": {"state": [...], "since": epoch, "severity": [...]}}``
  → ``{"export_uuid": ...}``. The findings are cut into chunks of at most N assets when the job starts.
  ``state`` defaults to OPEN + REOPENED (FIXED only when asked); ``since`` keeps findings found or fixed
  at/after that instant. ``num_assets`` is 50..5000 for pyTenable; the simulator accepts 1..5000 so
  small tests still page.
* ``GET /vulns/export/{uuid}/status`` → ``{"status": "PROCESSING"|"FINISHED", "chunks_available": [...]}``
  (PROCESSING for the first ``export_processing_polls`` polls).
* ``GET /vulns/export/{uuid}/chunks/{chunk_id}`` → a bare JSON array of findings.
* A finding is ``finding_id`` (asset + plugin + port): one plugin found on two ports of an asset is two
  findings, and two plugins naming the same CVE first are two findings too.
* ``X-ApiKeys: accessKey=...;secretKey=...`` required, else 401. Over the limit → 429 with ``Retry-After``.
"""
from __future__ import annotations

import math
import random
import threading
import time
import uuid as uuidlib

from nexus_sync.simulator import BadRequest, Request, Response, SimHost, VendorSim, data, json_response, register, route

_SEVERITY = ["info", "low", "medium", "high", "critical"]
_PORTS = [(443, "TCP", "www"), (22, "TCP", "ssh"), (3389, "TCP", "msrdp"), (0, "TCP", "general"), (161, "UDP", "snmp")]
_OS = ["Linux Kernel 5.15 on Ubuntu 22.04", "Microsoft Windows Server 2019", "Microsoft Windows 10", "CentOS Linux 7"]
_ERRORS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def _plugins() -> list[dict]:
    """A fixed catalog: distinct plugin ids and CVE lists (a few plugins name no CVE)."""
    out = []
    for k in range(40):
        cves = [] if k % 7 == 0 else [f"CVE-2024-{1000 + 3 * k + j}" for j in range(1 + k % 3)]
        out.append({"id": 150000 + 37 * k, "name": f"Example security update {k}", "cve": cves,
                    "cvss3_base_score": round(3.0 + (k * 0.17) % 7, 1), "vpr": {"score": round(2 + (k * 0.23) % 8, 1)},
                    "severity_id": 0 if not cves else 1 + k % 4})
    return out


PLUGINS = _plugins()
# Terrapin (CVE-2023-48795) as two plugins report it: a remote SSH check on the SSH port and a local package
# check on port 0; both name that CVE first, and each is its own finding (the trial: 187315, 187201)
TERRAPIN = [{"id": 187315, "name": "SSH Terrapin Prefix Truncation Weakness (CVE-2023-48795)",
             "cve": ["CVE-2023-48795"], "cvss3_base_score": 5.9, "vpr": {"score": 6.1}, "severity_id": 2},
            {"id": 187201, "name": "Example OpenSSH update (Terrapin)",
             "cve": ["CVE-2023-48795", "CVE-2023-51384", "CVE-2023-51385"], "cvss3_base_score": 6.5,
             "vpr": {"score": 5.2}, "severity_id": 2}]
_TERRAPIN_PORTS = [(22, "TCP", "ssh"), (0, "TCP", "general")]
_TLS_PORTS = [(443, "TCP", "www"), (8443, "TCP", "pcsync-https")]  # one TLS plugin, found on both


def _uuid(rng: random.Random) -> str:
    return str(uuidlib.UUID(int=rng.getrandbits(128), version=4))


@data.register_generator("tenable")
def generate_tenable(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "tenable", "records")
    out: list[dict] = []
    asset: dict = {}
    plugins: list[dict] = []
    for i in range(size):
        n = i // 2  # two findings per asset: of two plugins, mostly; of one plugin on two ports on every
        # 20th asset; of two plugins naming the same CVE first on another 20th (a finding is the vendor's,
        # not one per CVE and asset)
        if i % 2 == 0:
            asset = {"uuid": _uuid(rng), "hostname": f"app-{n}", "fqdn": f"app-{n}.example.com",
                     "ipv4": f"10.7.{n // 250 % 250}.{1 + n % 250}", "operating_system": [rng.pick(_OS)]}
            plugins = rng.sample(PLUGINS, 2)
        port, proto, service = rng.pick(_PORTS)
        if n % 20 == 7:
            plugin, (port, proto, service) = plugins[0], _TLS_PORTS[i % 2]
        elif n % 20 == 13:
            plugin, (port, proto, service) = TERRAPIN[i % 2], _TERRAPIN_PORTS[i % 2]
        else:
            plugin = plugins[i % 2]
        first = rng.between(data.DATA_START, data.DATA_EPOCH - 10 * data.DAY)
        last = rng.between(first, data.DATA_EPOCH - 60)
        state = rng.pick(["OPEN", "OPEN", "OPEN", "REOPENED", "FIXED"])
        sev = plugin["severity_id"]
        rec = {"finding_id": _uuid(rng), "asset": dict(asset),
               "plugin": {k: v for k, v in plugin.items() if k != "severity_id"},
               "port": {"port": port, "protocol": proto, "service": service},
               "severity": _SEVERITY[sev], "severity_id": sev, "state": state,
               "first_found": data.iso_ms_z(first, rng.below(1000)), "last_found": data.iso_ms_z(last, rng.below(1000)),
               "source": "NESSUS"}
        if state == "FIXED":
            rec["last_fixed"] = data.iso_ms_z(last + 3600, rng.below(1000))
        out.append(rec)
    return out


@register
class TenableSim(VendorSim):
    name = "tenable"
    id_field = "finding_id"
    default_credentials = {"access_key": "sim-tenable-access", "secret_key": "sim-tenable-secret"}
    default_rate_limit = 600
    extra_knobs = {"export_processing_polls": 1}

    def __init__(self, sim: SimHost):
        self.exports: dict[str, dict] = {}
        self._exports_lock = threading.Lock()
        super().__init__(sim)

    def reset(self) -> None:
        super().reset()
        with self._exports_lock:
            self.exports.clear()

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """A rescan: fixed, reopened, or found again with a new VPR score."""
        ts = data.iso_ms_z(data.mutation_time(rng, round_no), rng.randrange(1000))
        new = {**record, "plugin": {**record["plugin"], "vpr": {"score": round(rng.uniform(1, 10), 1)}}}
        if record["state"] == "FIXED":
            new.update(state="REOPENED", last_found=ts)
        elif rng.random() < 0.4:
            new.update(state="FIXED", last_fixed=ts)
        else:
            new["last_found"] = ts
        return new

    # ---- dialect -------------------------------------------------------------------

    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"statusCode": status, "error": _ERRORS.get(status, "Error"), "message": message})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        resp = self.error(429, "You have exceeded the rate limit")
        resp.headers.append(("Retry-After", str(max(1, math.ceil(reset_epoch - time.time())))))
        return resp

    def authenticate(self, req: Request) -> Response | None:
        keys = dict(p.strip().split("=", 1) for p in (req.headers.get("X-ApiKeys") or "").split(";") if "=" in p)
        if (keys.get("accessKey"), keys.get("secretKey")) == (self.credentials["access_key"],
                                                             self.credentials["secret_key"]):
            return None
        return self.error(401, "Invalid Credentials")

    # ---- export ----------------------------------------------------------------------

    @route("POST", "/vulns/export")
    def start(self, req: Request) -> Response:
        body = req.json() or {}
        num_assets = body.get("num_assets", 500)
        if not isinstance(num_assets, int) or not 1 <= num_assets <= 5000:
            raise BadRequest("num_assets must be an integer within 50..5000")
        filters = body.get("filters") or {}
        states = {s.upper() for s in filters.get("state") or ["OPEN", "REOPENED"]}
        since = filters.get("since")
        since_iso = data.iso_ms_z(int(since)) if since is not None else None
        with self.lock:
            found = [r for r in (self.records[i] for i in self.order) if r["state"] in states and (
                since_iso is None or max(r["last_found"], r.get("last_fixed", "")) >= since_iso)]
        chunks: list[list[dict]] = []
        assets: set[str] = set()
        for rec in found:  # a chunk holds every finding of at most num_assets assets
            if rec["asset"]["uuid"] not in assets:
                if not chunks or len(assets) == num_assets:
                    chunks.append([])
                    assets = set()
                assets.add(rec["asset"]["uuid"])
            chunks[-1].append(rec)
        export_uuid = str(uuidlib.uuid4())
        with self._exports_lock:
            self.exports[export_uuid] = {"polls": 0, "chunks": dict(enumerate(chunks, start=1))}
        return json_response(200, {"export_uuid": export_uuid})

    def _export(self, export_uuid: str) -> dict:
        with self._exports_lock:
            job = self.exports.get(export_uuid)
        if job is None:
            raise BadRequest(f"export {export_uuid} not found", status=404)
        return job

    @route("GET", "/vulns/export/(?P<export_uuid>[^/]+)/status")
    def status(self, req: Request, export_uuid: str) -> Response:
        job = self._export(export_uuid)
        job["polls"] += 1
        if job["polls"] <= self.faults["export_processing_polls"]:
            return json_response(200, {"status": "PROCESSING", "chunks_available": []})
        return json_response(200, {"status": "FINISHED", "chunks_available": sorted(job["chunks"])})

    @route("GET", "/vulns/export/(?P<export_uuid>[^/]+)/chunks/(?P<chunk_id>[0-9]+)")
    def chunk(self, req: Request, export_uuid: str, chunk_id: str) -> Response:
        chunks = self._export(export_uuid)["chunks"]
        if int(chunk_id) not in chunks:
            raise BadRequest(f"chunk {chunk_id} of export {export_uuid} not found", status=404)
        return Response(200, self.render(chunks[int(chunk_id)]))
