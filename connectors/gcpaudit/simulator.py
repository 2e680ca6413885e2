"""GCP Cloud Audit Logs through Cloud Logging ``entries:list``, as in ../shared/vendor-apis.md §31.

Served under ``/gcpaudit``:

* ``POST /token``: the service-account JWT-bearer grant (nexus_sync.simulator.google).
* ``POST /v2/entries:list`` with a JSON body ``{"resourceNames", "filter", "orderBy", "pageSize", "pageToken"}`` →
  ``{"entries": [...], "nextPageToken"}`` (left out on the last page). ``resourceNames`` is required, 1..100 of
  ``projects/…``, ``organizations/…``, ``folders/…``, ``billingAccounts/…`` (``projectIds`` is deprecated: 400);
  ``pageSize`` default 50, max 1000; ``orderBy`` only ``timestamp asc`` (default) or ``timestamp desc``;
  ``filter`` at most 20,000 characters. A page token belongs to its request (same filter, resources and order)
  and lives 24 h; otherwise 400 INVALID_ARGUMENT.
* ``filter``: clauses joined by ``AND``, each maybe in parentheses: ``logName:"…"`` (has), ``logName="…"``,
  ``timestamp`` / ``receiveTimestamp`` compared (``>``, ``>=``, ``<``, ``<=``, ``=``) with a quoted RFC 3339 time
  — compared to the nanosecond — and ``severity``, ``resource.type``, ``protoPayload.methodName``,
  ``protoPayload.serviceName`` equal to a quoted value. Anything else → 400 INVALID_ARGUMENT.
* Entries: ``logName`` URL-encoded (``cloudaudit.googleapis.com%2Factivity``, ``%2Fdata_access``,
  ``%2Fsystem_event``, ``%2Fpolicy``), a few non-audit entries (syslog, ``textPayload``) the audit filter leaves
  out, timestamps with 0, 3, 6 or 9 fraction digits, ``receiveTimestamp`` after ``timestamp`` — seconds later, and
  for some entries hours later (late arrivals: :meth:`GcpAuditSim.arrive_late` adds more), ``protoPayload`` of
  ``@type`` ``type.googleapis.com/google.cloud.audit.AuditLog``.
* Without a valid Bearer token: 401 UNAUTHENTICATED; over the read quota (60 calls/min) 429 RESOURCE_EXHAUSTED
  with no rate-limit or Retry-After header.
"""
from __future__ import annotations

import base64
import hashlib
import random
import re
import time
from typing import Any, Callable

import orjson

from nexus_sync.simulator import BadRequest, Request, Response, data, json_response, register, route
from nexus_sync.simulator.google import GoogleSim

PROJECTS = ["nexus-prod-1", "nexus-prod-2", "nexus-data"]
AUDIT_LOGS = ["activity", "activity", "activity", "data_access", "system_event", "policy"]
CALLS = [("compute.googleapis.com", "v1.compute.instances.setMetadata", "gce_instance", "NOTICE"),
         ("compute.googleapis.com", "v1.compute.firewalls.insert", "gce_firewall_rule", "NOTICE"),
         ("iam.googleapis.com", "google.iam.admin.v1.CreateServiceAccountKey", "service_account", "NOTICE"),
         ("storage.googleapis.com", "storage.objects.get", "gcs_bucket", "INFO"),
         ("storage.googleapis.com", "storage.setIamPermissions", "gcs_bucket", "NOTICE"),
         ("cloudresourcemanager.googleapis.com", "SetIamPolicy", "project", "NOTICE"),
         ("bigquery.googleapis.com", "google.cloud.bigquery.v2.JobService.InsertJob", "bigquery_resource", "INFO"),
         ("container.googleapis.com", "google.container.v1.ClusterManager.DeleteCluster", "gke_cluster", "WARNING")]
PRINCIPALS = ["ops@example.com", "alice@example.com", "deploy@nexus-prod-1.iam.gserviceaccount.com",
              "bob@example.com", "terraform@nexus-data.iam.gserviceaccount.com"]
MAX_PAGE, MAX_RESOURCES, MAX_FILTER, TOKEN_LIFETIME = 1000, 100, 20_000, 24 * 3600
_RESOURCE = re.compile(r"^(projects|organizations|folders|billingAccounts)/[^/]+$")
_CLAUSE = re.compile(r'^\s*(?P<field>[A-Za-z_.]+)\s*(?P<op>>=|<=|=|>|<|:)\s*"(?P<value>[^"]*)"\s*$')
_NS = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$")
_FIELDS: dict[str, Callable[[dict], Any]] = {
    "logName": lambda e: e.get("logName"), "severity": lambda e: e.get("severity"),
    "resource.type": lambda e: e["resource"]["type"],
    "protoPayload.methodName": lambda e: (e.get("protoPayload") or {}).get("methodName"),
    "protoPayload.serviceName": lambda e: (e.get("protoPayload") or {}).get("serviceName"),
}
_OPS: dict[str, Callable[[Any, Any], bool]] = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
                                               "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
                                               "=": lambda a, b: a == b}


def rfc3339(seconds: int, nanos: int) -> str:
    """Cloud Logging's text: the fraction in 0, 3, 6 or 9 digits, as the instant needs."""
    base = data.iso_z(seconds)[:-1]
    digits = f"{nanos:09d}"
    for width in (0, 3, 6):
        if not digits[width:].strip("0"):
            return f"{base}.{digits[:width]}Z" if width else f"{base}Z"
    return f"{base}.{digits}Z"


def ns_key(text: str) -> tuple[str, int]:
    """An RFC 3339 UTC time as a (seconds text, nanoseconds) pair that orders to the nanosecond."""
    m = _NS.match(text)
    if m is None:
        raise BadRequest(f"Invalid timestamp {text[:40]!r}: RFC 3339 UTC ('Z') expected")
    return m[1], int((m[2] or "").ljust(9, "0"))


def _entry(rng: data.FastRandom, i: int, at: int | None = None, late: bool = False) -> dict[str, Any]:
    ts = at if at is not None else rng.between(data.DATA_EPOCH - 30 * data.DAY, data.DATA_EPOCH - 3600)
    nanos = rng.pick([0, rng.below(1000) * 1_000_000, rng.below(1_000_000) * 1000, rng.below(1_000_000_000)])
    delay = rng.between(2 * 3600, 30 * 3600) if late or rng.random() < 0.05 else rng.between(0, 20)
    project = rng.pick(PROJECTS)
    insert_id = f"-{rng.getrandbits(40):x}{i:06x}"
    receive = rfc3339(ts + delay, rng.below(1_000_000_000))
    if rng.random() < 0.05:  # not an audit log: what the audit filter leaves out
        return {"insertId": insert_id, "logName": f"projects/{project}/logs/syslog",
                "resource": {"type": "gce_instance", "labels": {"project_id": project, "instance_id": str(i)}},
                "timestamp": rfc3339(ts, nanos), "receiveTimestamp": receive, "severity": "INFO",
                "textPayload": f"sshd[{1000 + i}]: Accepted publickey for admin"}
    service, method, rtype, sev = rng.pick(CALLS)
    failed = rng.random() < 0.08
    payload: dict[str, Any] = {
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog", "serviceName": service, "methodName": method,
        "resourceName": f"projects/{project}/zones/us-central1-a/instances/vm-{i % 97}",
        "authenticationInfo": {"principalEmail": rng.pick(PRINCIPALS)},
        "requestMetadata": {"callerIp": f"203.0.113.{rng.below(250) + 1}", "callerSuppliedUserAgent": "gcloud/470.0.0"},
        "authorizationInfo": [{"permission": method.split(".")[-1], "granted": not failed}],
    }
    if failed:
        payload["status"] = {"code": 7, "message": "PERMISSION_DENIED"}
        sev = "ERROR"
    return {"insertId": insert_id,
            "logName": f"projects/{project}/logs/cloudaudit.googleapis.com%2F{rng.pick(AUDIT_LOGS)}",
            "resource": {"type": rtype, "labels": {"project_id": project, "zone": "us-central1-a"}},
            "timestamp": rfc3339(ts, nanos), "receiveTimestamp": receive, "severity": sev, "protoPayload": payload}


def _time_check(field: str, cmp: Callable[[Any, Any], bool], bound: tuple[str, int]) -> Callable[[dict], bool]:
    return lambda e: cmp(ns_key(e[field]), bound)


def _field_check(get: Callable[[dict], Any], op: str, value: str) -> Callable[[dict], bool]:
    """`:` is "has" (a substring), `=` equality."""
    if op == ":":
        return lambda e: value in str(get(e) or "")
    return lambda e: get(e) == value


@data.register_generator("gcpaudit")
def generate_gcpaudit(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "gcpaudit", "records")
    return [_entry(rng, i) for i in range(size)]


@register
class GcpAuditSim(GoogleSim):
    name = "gcpaudit"
    id_field = "insertId"
    default_rate_limit = 60  # entries.list read quota: about 60 calls per minute per project
    scopes = ("https://www.googleapis.com/auth/logging.read", "https://www.googleapis.com/auth/cloud-platform")

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """An audit entry never changes; Logging may deliver it again (same insertId, log and timestamp) with a
        later receiveTimestamp."""
        return {**record, "receiveTimestamp": rfc3339(data.mutation_time(rng, round_no), rng.randrange(10**9))}

    def add_entries(self, entries: list[dict]) -> None:
        """Append entries (as served: insertId must be new)."""
        with self.lock:
            for entry in entries:
                self.position[entry["insertId"]] = len(self.order)
                self.order.append(entry["insertId"])
                self.records[entry["insertId"]] = entry
            self.version += 1
            self.on_data_changed()

    def arrive_late(self, count: int, received: str) -> list[dict]:
        """`count` entries stamped a day before the newest one, received (now) at `received`."""
        with self.lock:
            self.round += 1
            rng = data.vendor_rng(self.seed, self.name, "late", self.round)
            newest = max((data.parse_iso(r["timestamp"]).timestamp() for r in self.records.values()),
                         default=data.DATA_EPOCH)
            entries = [dict(_entry(rng, 10**6 * self.round + i, at=int(newest) - data.DAY), receiveTimestamp=received)
                       for i in range(count)]
        self.add_entries(entries)
        return entries

    # ---- entries.list
    def _filter(self, text: str) -> Callable[[dict], bool]:
        checks: list[Callable[[dict], bool]] = []
        for clause in (c.strip() for c in re.split(r"\s+AND\s+", text.strip()) if c.strip()):
            while clause.startswith("(") and clause.endswith(")"):
                clause = clause[1:-1].strip()
            m = _CLAUSE.match(clause)
            if m is None:
                raise BadRequest(f"Unparseable filter: {clause[:60]!r}")
            field, op, value = m["field"], m["op"], m["value"]
            if field in ("timestamp", "receiveTimestamp") and op != ":":
                checks.append(_time_check(field, _OPS[op], ns_key(value)))
            elif field in _FIELDS and op in (":", "="):
                checks.append(_field_check(_FIELDS[field], op, value))
            else:
                raise BadRequest(f"Unsupported filter clause: {field} {op}")
        return lambda e: all(c(e) for c in checks)

    @staticmethod
    def _resources(body: dict) -> list[str]:
        if "projectIds" in body:
            raise BadRequest("projectIds is deprecated: use resourceNames")
        names = body.get("resourceNames")
        if not isinstance(names, list) or not names:
            raise BadRequest("resourceNames is required")
        if len(names) > MAX_RESOURCES:
            raise BadRequest(f"at most {MAX_RESOURCES} resourceNames")
        for name in names:
            if not isinstance(name, str) or not _RESOURCE.match(name):
                raise BadRequest(f"Invalid resource name {str(name)[:60]!r}")
        return names

    def _offset(self, token: str, digest: str) -> int:
        try:
            state = orjson.loads(base64.urlsafe_b64decode(token))
            offset, issued, bound = int(state["o"]), float(state["t"]), state["d"]
        except (ValueError, KeyError, TypeError):
            raise BadRequest("Invalid page token") from None
        if bound != digest:
            raise BadRequest("The page token does not match the request (filter, resourceNames or orderBy changed)")
        if time.time() - issued > TOKEN_LIFETIME:
            raise BadRequest("The page token has expired")
        return offset

    @route("POST", r"/v2/entries:list")
    def entries_list(self, req: Request) -> Response:
        body = req.json() or {}
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        names = self._resources(body)
        text = body.get("filter") or ""
        if len(text) > MAX_FILTER:
            raise BadRequest(f"filter is longer than {MAX_FILTER} characters")
        order = body.get("orderBy") or "timestamp asc"
        if order not in ("timestamp asc", "timestamp desc"):
            raise BadRequest("orderBy must be 'timestamp asc' or 'timestamp desc'")
        size = body.get("pageSize") or 50
        if not isinstance(size, int) or not 1 <= size <= MAX_PAGE:
            raise BadRequest(f"pageSize must be within 1..{MAX_PAGE}")
        match = self._filter(text)
        digest = hashlib.sha256(orjson.dumps([text, sorted(names), order])).hexdigest()[:16]
        offset = self._offset(body["pageToken"], digest) if body.get("pageToken") else 0
        projects = {n.split("/", 1)[1] for n in names if n.startswith("projects/")}
        with self.lock:
            hits = [e for e in (self.records[rid] for rid in self.order)
                    if e["logName"].split("/")[1] in projects and match(e)]
        hits.sort(key=lambda e: ns_key(e["timestamp"]), reverse=order.endswith("desc"))
        out: dict[str, Any] = {"entries": hits[offset: offset + size]}
        if offset + size < len(hits):
            token = {"o": offset + size, "t": time.time(), "d": digest}
            out["nextPageToken"] = base64.urlsafe_b64encode(orjson.dumps(token)).decode()
        return json_response(200, out)
