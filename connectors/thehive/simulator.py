"""TheHive cases, as in ../shared/vendor-apis.md §16.

Served under ``/thehive``:

* ``POST /api/v1/query?name=cases`` with ``{"query": [{"_name": "listCase"}, steps...]}``; steps
  ``filter`` (``_gt/_gte/_lt/_lte/_eq/_ne`` on ``{"_field", "_value"}``, ``_and/_or/_not``),
  ``sort`` (``_fields``: ``[{"<field>": "asc"|"desc"}, ...]``), ``page`` (``from``/``to``, ``to``
  exclusive) and ``count`` (answers a bare integer). The answer is a bare JSON array.
* ``GET /api/v1/case/{id}`` → one case.
* ``Authorization: Bearer <apikey>`` required: else 401 ``{"type": "AuthenticationError", ...}``.
* Times are epoch milliseconds; a never-updated case has no ``_updatedAt``.
* Rate limits are undocumented (unconfirmed): over the limit → 429 with ``Retry-After`` seconds.
"""
from __future__ import annotations

import math
import random
from typing import Any, Callable

from nexus_sync.simulator import BadRequest, Request, Response, VendorSim, data, json_response, register, route

SEVERITY_LABELS = {1: "LOW", 2: "MEDIUM", 3: "HIGH", 4: "CRITICAL"}
TLP_LABELS = {0: "WHITE", 1: "GREEN", 2: "AMBER", 3: "RED", 4: "RED"}  # 4 = AMBER+STRICT in v5; label kept simple
PAP_LABELS = {0: "WHITE", 1: "GREEN", 2: "AMBER", 3: "RED"}
OPEN_STATUSES = {"New": "New", "InProgress": "InProgress"}  # status → stage
CLOSED_STATUSES = ["TruePositive", "FalsePositive", "Indeterminate", "Other", "Duplicated"]
SUBJECTS = ["Phishing", "Ransomware", "Malware", "Credential theft", "Data exfiltration", "Brute force",
            "Suspicious login", "C2 beacon", "Insider threat", "DDoS", "Web shell", "Privilege escalation"]
TARGETS = ["finance mailbox", "HR server", "VPN gateway", "domain controller", "build server", "CRM database",
           "payroll app", "marketing laptop", "S3 bucket", "Jira", "mail relay", "kubernetes node"]
TAGS = ["phishing", "malware", "ransomware", "credential-access", "lateral-movement", "exfiltration",
        "c2", "edr", "email", "cloud", "insider", "ddos"]
ANALYSTS = ["analyst@example.org", "soc-l2@example.org", "ir-lead@example.org", "hunter@example.org"]
LAST_MS = (data.DATA_EPOCH - 60) * 1000  # generated times stay before every mutation's
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "_gt": lambda a, b: a > b, "_gte": lambda a, b: a >= b, "_lt": lambda a, b: a < b,
    "_lte": lambda a, b: a <= b, "_eq": lambda a, b: a == b, "_ne": lambda a, b: a != b,
}


@data.register_generator("thehive")
def generate_thehive(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "thehive", "records")
    out = []
    for i in range(size):
        created = rng.between(data.DATA_START, data.DATA_EPOCH - data.DAY) * 1000 + rng.below(1000)
        severity = rng.pick([1, 2, 2, 3, 3, 3, 4])
        tlp, pap = rng.pick([1, 2, 2, 3]), rng.pick([1, 2, 2, 3])
        status = rng.pick(["New", "InProgress", "InProgress", *CLOSED_STATUSES])
        case: dict[str, Any] = {
            "_id": f"~{40960 + i * 8 + rng.below(8)}", "_type": "Case", "_createdBy": rng.pick(ANALYSTS),
            "_createdAt": created, "number": i + 1,
            "title": f"{rng.pick(SUBJECTS)} - {rng.pick(TARGETS)}",
            "description": f"Reported by {rng.pick(ANALYSTS)}; see observables.",
            "severity": severity, "severityLabel": SEVERITY_LABELS[severity],
            "tlp": tlp, "tlpLabel": TLP_LABELS[tlp], "pap": pap, "papLabel": PAP_LABELS[pap],
            "status": status, "stage": OPEN_STATUSES.get(status, "Closed"),
            "tags": sorted(set(rng.sample(TAGS, rng.between(0, 3)))), "assignee": rng.pick(ANALYSTS),
            "startDate": created - rng.below(3600) * 1000, "flag": rng.random() < 0.1,
        }
        if status in CLOSED_STATUSES:
            case["endDate"] = min(created + rng.between(3600, 20 * data.DAY) * 1000, LAST_MS)
        if status != "New" or rng.random() < 0.3:  # a case nobody touched has no _updatedAt
            case["_updatedAt"] = case.get("endDate", min(created + rng.between(60, data.DAY) * 1000, LAST_MS))
            case["_updatedBy"] = case["assignee"]
        out.append(case)
    return out


@register
class TheHiveSim(VendorSim):
    name = "thehive"
    id_field = "_id"
    default_credentials = {"token": "sim-thehive-apikey"}
    default_rate_limit = 600

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        new = dict(record)
        new["severity"] = rng.choice([s for s in SEVERITY_LABELS if s != record["severity"]])
        new["severityLabel"] = SEVERITY_LABELS[new["severity"]]
        if record["stage"] != "Closed":
            new["status"] = rng.choice(["InProgress", *CLOSED_STATUSES])
            new["stage"] = OPEN_STATUSES.get(new["status"], "Closed")
        new["tags"] = sorted({*record["tags"], rng.choice(TAGS)})
        new["_updatedAt"] = data.mutation_time(rng, round_no) * 1000 + rng.randrange(1000)
        new["_updatedBy"] = rng.choice(ANALYSTS)
        if new["stage"] == "Closed" and "endDate" not in new:
            new["endDate"] = new["_updatedAt"]
        return new

    # ---- dialect --------------------------------------------------------------------
    def error(self, status: int, message: str) -> Response:
        kind = {400: "BadRequest", 401: "AuthenticationError", 403: "AuthorizationError", 404: "NotFoundError",
                429: "TooManyRequests"}.get(status, "InternalError")
        return json_response(status, {"type": kind, "message": message})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        import time

        resp = self.error(429, "rate limit exceeded")
        resp.headers.append(("Retry-After", str(max(1, math.ceil(reset_epoch - time.time())))))
        return resp

    def authenticate(self, req: Request) -> Response | None:
        scheme, _, key = (req.headers.get("Authorization") or "").partition(" ")
        if scheme == "Bearer" and key.strip() and key.strip() == self.credentials.get("token"):
            return None
        return self.error(401, "Authentication failure")

    # ---- query API --------------------------------------------------------------------
    def _predicate(self, expr: dict) -> Callable[[dict], bool]:
        if not isinstance(expr, dict):
            raise BadRequest(f"invalid filter: {expr!r}")
        expr = {k: v for k, v in expr.items() if k != "_name"}
        if len(expr) != 1:
            raise BadRequest(f"a filter has exactly one operator, got {sorted(expr)}")
        (op, arg), = expr.items()
        if op in ("_and", "_or"):
            subs = [self._predicate(e) for e in arg]
            return (lambda r: all(p(r) for p in subs)) if op == "_and" else (lambda r: any(p(r) for p in subs))
        if op == "_not":
            sub = self._predicate(arg)
            return lambda r: not sub(r)
        if op not in _OPS or not isinstance(arg, dict) or "_field" not in arg or "_value" not in arg:
            raise BadRequest(f"unsupported filter {op!r}")
        cmp, fld, value = _OPS[op], arg["_field"], arg["_value"]
        return lambda r: r.get(fld) is not None and cmp(r[fld], value)

    @route("POST", "/api/v1/query")
    def query(self, req: Request) -> Response:
        body = req.json()
        steps = body.get("query") if isinstance(body, dict) else None
        if not isinstance(steps, list) or not steps or steps[0].get("_name") != "listCase":
            raise BadRequest('body must be {"query": [{"_name": "listCase"}, ...]}')
        with self.lock:
            cases = [self.records[rid] for rid in self.order]
        for step in steps[1:]:
            name = step.get("_name")
            if name == "filter":
                pred = self._predicate(step)
                cases = [c for c in cases if pred(c)]
            elif name == "sort":
                for spec in reversed(step.get("_fields") or []):
                    (fld, direction), = spec.items()
                    cases.sort(key=lambda c: (c.get(fld) is None, c.get(fld) or 0), reverse=direction == "desc")
            elif name == "page":
                start, end = int(step.get("from", 0)), int(step.get("to", 0))
                if start < 0 or end < start:
                    raise BadRequest(f"invalid page window from={start} to={end}")
                cases = cases[start:end]
            elif name == "count":
                return json_response(200, len(cases))
            else:
                raise BadRequest(f"unsupported query step {name!r}")
        return Response(200, self.render(cases))

    @route("GET", "/api/v1/case/(?P<case_id>[^/]+)")
    def get_case(self, req: Request, case_id: str) -> Response:
        with self.lock:
            case = self.records.get(case_id)
        return Response(200, self.render(case)) if case else self.error(404, f"Case {case_id} not found")
