"""Jira Cloud JQL search, as in ../shared/vendor-apis.md §15.

Served under ``/jira``:

* ``GET /rest/api/3/search/jql`` (query) and ``POST`` (JSON body) with ``jql``, ``fields`` (comma list;
  without it only ``id`` comes back), ``maxResults`` (default 50, capped at 100), ``nextPageToken`` →
  ``{"issues": [...], "nextPageToken": "...", "isLast": false}``; on the last page the ``nextPageToken``
  key is absent and ``isLast`` is true.
* Two projects: SEC on today's priority scheme (Highest … Lowest) and, for about a fifth of the issues, OPS
  on Jira's classic scheme (Blocker, Critical, Major, Minor, Trivial), which older sites keep.
* JQL subset: clauses joined by ``AND`` (parentheses allowed) — ``project = KEY``, ``project in (A, B)``,
  ``status = "Name"``,
  ``updated|created >=|>|<=|< "yyyy-MM-dd HH:mm"`` (the API user's zone: UTC here) — then
  ``ORDER BY updated|created|id|key [ASC|DESC]``. A query without a restriction is refused (400), as
  /search/jql does.
* HTTP Basic ``email:api_token``, else 401. Errors ``{"errorMessages": [...], "errors": {}}``.
* Over the limit → 429 with ``Retry-After`` (seconds), ``X-RateLimit-Reset`` (ISO-8601),
  ``X-RateLimit-Limit`` and ``X-RateLimit-Remaining``.
"""
from __future__ import annotations

import base64
import math
import random
import re
import time
from typing import Any

from nexus_sync.simulator import BadRequest, Request, Response, VendorSim, data, json_response, register, route

SITE = "https://nexus-sim.atlassian.net"
MAX_RESULTS = 100
STATUSES = ["To Do", "In Progress", "In Review", "Done"]
PRIORITIES = ["Highest", "High", "Medium", "Low", "Lowest"]
CLASSIC_PRIORITIES = ["Blocker", "Critical", "Major", "Minor", "Trivial"]  # Jira's classic priority scheme
SCHEMES = {"SEC": PRIORITIES, "OPS": CLASSIC_PRIORITIES}  # project key → its priority scheme
CLASSIC_SHARE = 0.2
LABELS = ["vuln", "phishing", "malware", "access", "audit", "cloud"]
_CLAUSE = re.compile(r'^(?P<field>\w+)\s*(?P<op>>=|<=|=|>|<|\bin\b)\s*"?(?P<value>[^"]*)"?$')
_IN_LIST = re.compile(r"\bin\s*\((?P<values>[^()]*)\)", re.I)
_ORDER = re.compile(r"\s+ORDER\s+BY\s+(?P<field>\w+)(?:\s+(?P<dir>ASC|DESC))?\s*$", re.I)


def jira_time(ts: int, ms: int = 0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{ms:03d}+0000"


@data.register_generator("jira")
def generate_jira(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "jira", "records")
    projects = data.vendor_rng(seed, "jira", "projects")
    out, numbers = [], dict.fromkeys(SCHEMES, 0)
    for i in range(size):
        created = rng.between(data.DATA_START, data.DATA_EPOCH - 2 * data.DAY)
        issue_id = str(10000 + i)
        fields = {"summary": f"{rng.pick(['Patch', 'Investigate', 'Review', 'Rotate'])} "
                             f"{rng.pick(['OpenSSL on web tier', 'phishing report', 'EDR alert', 'IAM keys'])}",
                  "status": {"name": rng.pick(STATUSES)}, "priority": {"name": rng.pick(PRIORITIES)},
                  "issuetype": {"name": rng.pick(["Task", "Bug", "Incident"])},
                  "project": {"key": "SEC"}, "labels": rng.sample(LABELS, rng.below(3)),
                  "assignee": {"accountId": f"5b10a2844c20165700ede{rng.below(100):03d}"},
                  "created": jira_time(created, rng.below(1000)),
                  "updated": jira_time(rng.between(created, data.DATA_EPOCH - 60), rng.below(1000))}
        project = "OPS" if projects.random() < CLASSIC_SHARE else "SEC"
        if project != "SEC":
            fields.update(project={"key": project}, priority={"name": projects.pick(SCHEMES[project])})
        numbers[project] += 1
        out.append({"id": issue_id, "key": f"{project}-{numbers[project]}",
                    "self": f"{SITE}/rest/api/3/issue/{issue_id}", "fields": fields})
    return out


@register
class JiraSim(VendorSim):
    name = "jira"
    id_field = "id"
    default_credentials = {"username": "sim-bot@example.com", "password": "sim-jira-api-token"}
    default_rate_limit = 600

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """Triage: a status transition or a new priority; `updated` moves on."""
        f = dict(record["fields"])
        if rng.random() < 0.6:
            f["status"] = {"name": rng.choice([s for s in STATUSES if s != f["status"]["name"]])}
        else:
            scheme = SCHEMES[f["project"]["key"]]
            f["priority"] = {"name": rng.choice([p for p in scheme if p != f["priority"]["name"]])}
        f["updated"] = jira_time(data.mutation_time(rng, round_no), rng.randrange(1000))
        return {**record, "fields": f}

    # ---- dialect -------------------------------------------------------------------

    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"errorMessages": [message], "errors": {}})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        resp = self.error(429, "Rate limit exceeded.")
        reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.ceil(reset_epoch)))
        resp.headers += [("Retry-After", str(max(1, math.ceil(reset_epoch - time.time())))),
                         ("X-RateLimit-Reset", reset), ("X-RateLimit-Limit", str(limit)),
                         ("X-RateLimit-Remaining", "0")]
        return resp

    def authenticate(self, req: Request) -> Response | None:
        scheme, _, b64 = (req.headers.get("Authorization") or "").partition(" ")
        try:
            user, _, token = base64.b64decode(b64).decode().partition(":")
        except ValueError:
            user = token = ""
        if scheme == "Basic" and (user, token) == (self.credentials["username"], self.credentials["password"]):
            return None
        return self.error(401, "You are not authenticated. Authentication required to perform this operation.")

    # ---- search ----------------------------------------------------------------------------

    @route("GET", "/rest/api/3/search/jql")
    def search_get(self, req: Request) -> Response:
        return self._search(req, {k: v[0] for k, v in req.query.items()})

    @route("POST", "/rest/api/3/search/jql")
    def search_post(self, req: Request) -> Response:
        body = req.json() or {}
        if isinstance(body.get("fields"), list):
            body["fields"] = ",".join(body["fields"])
        return self._search(req, body)

    def _search(self, req: Request, args: dict[str, Any]) -> Response:
        jql = str(args.get("jql") or "")
        pred, order, desc = _parse_jql(jql)
        limit = min(MAX_RESULTS, _int(args.get("maxResults"), 50))
        token = args.get("nextPageToken")
        start = _decode_token(token, jql) if token else 0
        with self.lock:
            hits = [r for r in (self.records[i] for i in self.order) if pred(r)]
        key = (lambda r: int(r["id"])) if order in ("id", "key") else (lambda r: (r["fields"][order], int(r["id"])))
        hits.sort(key=key, reverse=desc)
        page = hits[start:start + limit]
        fields = [f for f in str(args.get("fields") or "").split(",") if f]
        issues = [{"id": r["id"]} if not fields else
                  {"id": r["id"], "key": r["key"], "self": r["self"],
                   "fields": {k: v for k, v in r["fields"].items() if k in fields or "*all" in fields}}
                  for r in page]
        body: dict[str, Any] = {"issues": issues}
        if start + limit < len(hits):
            body["nextPageToken"] = _encode_token(start + limit, jql)
        body["isLast"] = "nextPageToken" not in body
        return json_response(200, body)


def _int(value: Any, default: int) -> int:
    try:
        n = int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        raise BadRequest(f"maxResults: not a number: {value!r}") from None
    if n < 0:
        raise BadRequest("maxResults must not be negative")
    return n or default


def _encode_token(offset: int, jql: str) -> str:
    return base64.urlsafe_b64encode(f"{offset}|{jql}".encode()).decode().rstrip("=")


def _decode_token(token: str, jql: str) -> int:
    try:
        offset, _, was = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().partition("|")
        if was != jql:
            raise ValueError
        return int(offset)
    except ValueError:
        raise BadRequest("The nextPageToken is invalid or does not belong to this query.") from None


def _parse_jql(jql: str) -> tuple[Any, str, bool]:
    order, desc = "updated", False  # no ORDER BY: the simulator's default
    m = _ORDER.search(" " + jql)
    if m:
        order, desc = m["field"].lower(), (m["dir"] or "ASC").upper() == "DESC"
        jql = (" " + jql)[: m.start()]
        if order not in ("updated", "created", "id", "key"):
            raise BadRequest(f"ORDER BY {order}: not supported by the simulator")
    clauses = []
    jql = _IN_LIST.sub(lambda m: "in " + "|".join(v.strip().strip('"') for v in m["values"].split(",")), jql)
    for part in re.split(r"\s+AND\s+", jql.replace("(", " ").replace(")", " ").strip(), flags=re.I):
        if not part:
            continue
        c = _CLAUSE.match(part.strip())
        if not c or c["field"] not in ("project", "status", "updated", "created") or (
                c["op"] == "in" and c["field"] not in ("project", "status")):
            raise BadRequest(f"Error in the JQL Query: unsupported clause {part.strip()!r}")
        clauses.append((c["field"], c["op"], c["value"]))
    if not clauses:
        raise BadRequest("Unbounded JQL queries are not allowed here. Please add a search restriction to your query.")

    def pred(rec: dict) -> bool:
        f = rec["fields"]
        for field, op, value in clauses:
            if field == "project":
                have = f["project"]["key"]
            elif field == "status":
                have = f["status"]["name"]
            else:
                have, value = f[field][:16].replace("T", " "), value[:16]  # minute precision, UTC user
            ok = {"=": have == value, ">": have > value, ">=": have >= value, "<": have < value,
                  "<=": have <= value, "in": have in value.split("|")}[op]
            if not ok:
                return False
        return True

    return pred, order, desc
