"""Google Cloud Security Command Center findings, as in ../shared/vendor-apis.md §18 and §27.

Served under ``/gcpscc`` (one organization, ``organizations/123456789012``, location ``global``):

* ``POST /token``: the service-account JWT-bearer grant (nexus_sync.simulator.google: the JWT's RS256
  signature is verified with the service account's public key).
* ``GET /v2/{parent}/sources/-/locations/{location}/findings`` (and v1 ``/v1/{parent}/sources/-/findings``)
  with ``pageSize`` (default 10, max 1000), ``pageToken``, ``filter``, ``orderBy``, ``readTime``, ``fieldMask`` →
  ``{"listFindingsResults": [{"finding", "resource"}], "nextPageToken", "readTime", "totalSize"}``;
  ``nextPageToken`` is left out on the last page (proto3 JSON drops an empty string). A page token is tied to
  its filter: reused with another filter it is 400 INVALID_ARGUMENT.
* ``filter``: clauses joined by ``AND``: ``event_time`` / ``create_time`` compared (``>``, ``>=``, ``<``, ``<=``,
  ``=``) with an RFC 3339 string in quotes or epoch milliseconds; ``state``, ``severity``, ``category``,
  ``finding_class``, ``mute`` equal to a quoted value. Anything else → 400 INVALID_ARGUMENT.
* Findings: ``findingClass`` VULNERABILITY (``vulnerability.cve`` with CVSS v3), MISCONFIGURATION, THREAT,
  OBSERVATION, SCC_ERROR; ``state`` ACTIVE/INACTIVE; ``severity`` CRITICAL/HIGH/MEDIUM/LOW and, now and then,
  SEVERITY_UNSPECIFIED; ``mute`` MUTED/UNMUTED/UNDEFINED; RFC 3339 ``eventTime`` / ``createTime``.
* Without a valid Bearer token: 401 UNAUTHENTICATED; over quota: 429 RESOURCE_EXHAUSTED with no headers.
"""
from __future__ import annotations

import base64
import hashlib
import random
import re
import time
from datetime import datetime, timezone
from typing import Any, Callable

import orjson

from nexus_sync.simulator import BadRequest, Request, Response, data, json_response, register, route
from nexus_sync.simulator.google import GoogleSim

ORG = "organizations/123456789012"
PROJECTS = ["nexus-prod-1", "nexus-prod-2", "nexus-data", "nexus-dev"]
SOURCES = {"1001": "Security Health Analytics", "1002": "Event Threat Detection", "1003": "Vulnerability Assessment",
           "1004": "Container Threat Detection"}
MISCONFIG = [("OPEN_FIREWALL", "HIGH"), ("PUBLIC_BUCKET_ACL", "HIGH"), ("MFA_NOT_ENFORCED", "HIGH"),
             ("SQL_NO_ROOT_PASSWORD", "CRITICAL"), ("OS_LOGIN_DISABLED", "MEDIUM"), ("FLOW_LOGS_DISABLED", "LOW"),
             ("PUBLIC_IP_ADDRESS", "HIGH"), ("SSL_NOT_ENFORCED", "HIGH")]
THREATS = [("Malware: Bad Domain", "HIGH"), ("Persistence: IAM Anomalous Grant", "MEDIUM"),
           ("Exfiltration: BigQuery Data Exfiltration", "HIGH"), ("Execution: Cryptocurrency Mining Hash Match",
                                                                 "CRITICAL")]
PACKAGES = ["openssl", "glibc", "curl", "log4j-core", "sudo", "openssh", "libxml2", "zlib"]
MAX_PAGE = 1000
_CLAUSE = re.compile(r'^\s*(?P<field>[a-z_]+)\s*(?P<op>>=|<=|=|>|<)\s*(?P<value>"[^"]*"|[0-9]+)\s*$')
_TIME_FIELDS = {"event_time": "eventTime", "create_time": "createTime"}
_TEXT_FIELDS = {"state": "state", "severity": "severity", "category": "category", "finding_class": "findingClass",
                "mute": "mute"}
_OPS: dict[str, Callable[[Any, Any], bool]] = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
                                               "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
                                               "=": lambda a, b: a == b}


def _rfc3339(ts: int, nanos: int = 0) -> str:
    """Google's timestamp text: fraction digits only where there is a fraction (3, 6 or 9 of them)."""
    base = data.iso_z(ts)[:-1]
    if not nanos:
        return base + "Z"
    digits = f"{nanos:09d}"
    for width in (3, 6, 9):
        if digits[width:].strip("0") == "":
            return f"{base}.{digits[:width]}Z"
    return f"{base}.{digits}Z"


def _instant(value: str) -> datetime:
    if value.isdigit():  # epoch milliseconds
        return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)
    return data.parse_iso(value)


def _finding(rng: data.FastRandom, i: int) -> dict[str, Any]:
    created = rng.between(data.DATA_START, data.DATA_EPOCH - 30 * data.DAY)
    event = rng.between(created, data.DATA_EPOCH - 60)
    project = rng.pick(PROJECTS)
    instance = f"//compute.googleapis.com/projects/{project}/zones/us-central1-a/instances/{rng.getrandbits(60)}"
    roll = rng.random()
    source = "1001"
    extra: dict[str, Any] = {}
    if roll < 0.45:
        category, sev = rng.pick(MISCONFIG)
        cls = "MISCONFIGURATION"
    elif roll < 0.75:
        source, cls, sev = "1003", "VULNERABILITY", rng.pick(["CRITICAL", "HIGH", "MEDIUM", "LOW"])
        score = round(3 + rng.random() * 7, 1)
        cve = f"CVE-{2019 + rng.below(6)}-{1000 + rng.below(49000)}"
        category = "OS_VULNERABILITY"
        extra["vulnerability"] = {"cve": {"id": cve, "cvssv3": {"baseScore": score, "attackVector": "NETWORK"},
                                          "upstreamFixAvailable": rng.random() < 0.7},
                                  "offendingPackage": {"packageName": rng.pick(PACKAGES)}}
    elif roll < 0.9:
        source, cls = "1002", "THREAT"
        category, sev = rng.pick(THREATS)
    else:
        source, cls, category, sev = "1001", "OBSERVATION", "SERVICE_ACCOUNT_KEY_CREATED", "LOW"
    if rng.random() < 0.03:
        sev = "SEVERITY_UNSPECIFIED"
    parent = f"{ORG}/sources/{source}"
    name = f"{parent}/locations/global/findings/{rng.getrandbits(128):032x}"
    finding = {"name": name, "canonicalName": name.replace(ORG, f"projects/{100000 + PROJECTS.index(project)}"),
               "parent": f"{parent}/locations/global", "resourceName": instance,
               "state": "ACTIVE" if rng.random() < 0.8 else "INACTIVE", "category": category,
               "externalUri": f"https://console.cloud.google.com/compute/instancesDetail?project={project}",
               "sourceProperties": {"ScannerName": SOURCES[source]}, "securityMarks": {"name": f"{name}/securityMarks"},
               "eventTime": _rfc3339(event, rng.below(1000) * 1_000_000), "createTime": _rfc3339(created),
               "severity": sev, "mute": rng.pick(["MUTED", "UNMUTED", "UNDEFINED", "UNDEFINED"]),
               "findingClass": cls, **extra}
    resource = {"name": instance, "displayName": f"vm-{project}-{i:05d}", "type": "google.compute.Instance",
                "cloudProvider": "GOOGLE_CLOUD_PLATFORM", "service": "compute.googleapis.com",
                "location": "us-central1-a", "gcpMetadata": {"project": f"projects/{100000 + PROJECTS.index(project)}",
                                                             "projectDisplayName": project, "organization": ORG}}
    return {"finding": finding, "resource": resource}


def _time_check(key: str, cmp: Callable[[Any, Any], bool], bound: datetime) -> Callable[[dict], bool]:
    return lambda r: cmp(data.parse_iso(r["finding"][key]), bound)


def _text_check(key: str, value: str) -> Callable[[dict], bool]:
    return lambda r: r["finding"].get(key) == value


@data.register_generator("gcpscc")
def generate_gcpscc(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "gcpscc", "records")
    # stored flat (the simulator's records are keyed by a top-level id); served as {"finding", "resource"}
    return [{"name": item["finding"]["name"], **item} for item in (_finding(rng, i) for i in range(size))]


@register
class GcpSccSim(GoogleSim):
    name = "gcpscc"
    id_field = "name"
    default_rate_limit = 600

    @staticmethod
    def served(record: dict) -> dict:
        return {"finding": record["finding"], "resource": record["resource"]}

    def truth_bytes(self) -> bytes:
        with self.lock:
            snapshot = {rid: self.served(self.records[rid]) for rid in self.order}
        return self.render(snapshot)

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """Re-observed: eventTime moves on; the finding is fixed (INACTIVE), comes back, or is muted."""
        finding = dict(record["finding"])
        roll = rng.random()
        if roll < 0.5:
            finding["state"] = "INACTIVE" if finding["state"] == "ACTIVE" else "ACTIVE"
        elif roll < 0.7:
            finding["mute"] = "MUTED"
        finding["eventTime"] = _rfc3339(data.mutation_time(rng, round_no), rng.randrange(1000) * 1_000_000)
        return {**record, "finding": finding}

    # ---- ListFindings
    def _filter(self, text: str) -> Callable[[dict], bool]:
        checks: list[Callable[[dict], bool]] = []
        for clause in (c for c in re.split(r"\s+AND\s+", text.strip()) if c.strip()):
            m = _CLAUSE.match(clause)
            if m is None:
                raise BadRequest(f"Invalid filter: could not parse {clause[:60]!r}")
            field, op, value = m["field"], m["op"], m["value"].strip('"')
            if field in _TIME_FIELDS:
                try:
                    bound = _instant(value)
                except ValueError:
                    raise BadRequest(f"Invalid filter: {field} needs an RFC 3339 time or epoch milliseconds") from None
                checks.append(_time_check(_TIME_FIELDS[field], _OPS[op], bound))
            elif field in _TEXT_FIELDS and op == "=":
                checks.append(_text_check(_TEXT_FIELDS[field], value))
            else:
                raise BadRequest(f"Invalid filter: field {field!r} with {op!r} is not supported")
        return lambda r: all(c(r) for c in checks)

    def _list(self, req: Request, parent: str) -> Response:
        if parent != ORG:
            return self.error(403, f"The caller does not have permission on {parent}")
        size = req.int_arg("pageSize", 10, lo=1, hi=MAX_PAGE)
        text = req.arg("filter", "") or ""
        match = self._filter(text)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        offset = 0
        if req.arg("pageToken"):
            try:
                state = orjson.loads(base64.urlsafe_b64decode(req.arg("pageToken", "")))
                offset = int(state["o"])
            except (ValueError, KeyError, TypeError):
                raise BadRequest("Invalid page token") from None
            if state.get("f") != digest:
                raise BadRequest("The page token does not match the request: the filter changed")
        with self.lock:
            hits = [self.records[rid] for rid in self.order if match(self.records[rid])]
        out: dict[str, Any] = {"listFindingsResults": [self.served(r) for r in hits[offset: offset + size]],
                               "readTime": _rfc3339(int(time.time()), 123_000_000), "totalSize": len(hits)}
        if offset + size < len(hits):
            out["nextPageToken"] = base64.urlsafe_b64encode(orjson.dumps({"o": offset + size, "f": digest})).decode()
        return json_response(200, out)

    @route("GET", r"/v2/(?P<parent>(?:organizations|folders|projects)/[^/]+)/sources/-/locations/(?P<loc>[^/]+)/findings")
    def list_v2(self, req: Request, parent: str, loc: str) -> Response:
        if loc != "global":
            return self.error(404, f"Location {loc} is not a Security Command Center data residency location")
        return self._list(req, parent)

    @route("GET", r"/v1/(?P<parent>(?:organizations|folders|projects)/[^/]+)/sources/-/findings")
    def list_v1(self, req: Request, parent: str) -> Response:
        return self._list(req, parent)
