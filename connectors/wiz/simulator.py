"""Wiz GraphQL issues, as in ../shared/vendor-apis.md §11.

Served under ``/wiz`` (the tenant API host ``api.<dc>.app.wiz.io``, plus the token host):

* ``POST /oauth/token`` (form ``grant_type=client_credentials``, ``audience=wiz-api``, ``client_id``,
  ``client_secret``) → ``{"access_token", "token_type": "Bearer", "expires_in"}``. Stands in for
  ``https://auth.app.wiz.io/oauth/token``; a missing audience is a 400, wrong credentials a 401.
* ``POST /graphql`` ``{"query", "variables"}`` with ``issuesV2(filterBy, first, after, orderBy)`` →
  ``{"data": {"issuesV2": {"nodes", "pageInfo": {"hasNextPage", "endCursor"}}}}``. Nodes carry every field
  of §11 whatever the selection set (the simulator does not parse GraphQL). ``filterBy``: ``createdAt`` /
  ``updatedAt`` ``{after, before}``, ``status`` / ``severity`` / ``type`` lists. A bad cursor or an
  unsimulated query answers HTTP 200 with ``errors[]``, like a GraphQL server.
* ``Authorization: Bearer <token>`` required (401 ``errors[]``). Over the limit (or a rate-limit fault) this
  answers as Wiz does (issue 11, #12): HTTP **200** with ``data: null`` and a GraphQL error whose
  ``extensions`` are ``{"code": "RATE_LIMIT_EXCEEDED", "retryAfter": <whole seconds until the window ends>}``,
  no rate-limit headers. The facts leave Wiz rate limits unconfirmed; seconds is our assumption for the unit.
"""
from __future__ import annotations

import base64
import math
import random
import re
import secrets
import threading
import time
import uuid

import orjson

from nexus_sync.simulator import Request, Response, SimHost, VendorSim, data, json_response, register, route

MAX_FIRST = 500
STATUSES = ["OPEN", "IN_PROGRESS", "RESOLVED", "REJECTED"]
SEVERITIES = ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
TYPES = ["TOXIC_COMBINATION", "THREAT_DETECTION", "CLOUD_CONFIGURATION"]
RULES = ["Public bucket", "VM with critical vulnerability exposed to the internet", "Admin role without MFA",
         "Unencrypted database", "Suspicious cryptomining activity", "Security group open to 0.0.0.0/0"]
ENTITIES = [("BUCKET", "AWS::S3::Bucket", "arn:aws:s3:::{n}"),
            ("VIRTUAL_MACHINE", "AWS::EC2::Instance", "arn:aws:ec2:us-east-1:111122223333:instance/{n}"),
            ("DATABASE", "Microsoft.Sql/servers/databases", "/subscriptions/sub-1/resourceGroups/rg/providers/"
                                                            "Microsoft.Sql/servers/{n}")]
_CONNECTION = re.compile(r"\b(issuesV2|vulnerabilityFindings)\s*\(")


@data.register_generator("wiz")
def generate_wiz(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "wiz", "records")
    projects = [{"id": str(uuid.UUID(int=rng.getrandbits(128))), "name": n, "slug": n.lower()}
                for n in ("Prod", "Staging", "Data", "Corp")]
    rules = [{"id": str(uuid.UUID(int=rng.getrandbits(128))), "name": n} for n in RULES]
    out = []
    for i in range(size):
        created = rng.between(data.DATA_START, data.DATA_EPOCH - 10 * data.DAY)
        updated = rng.between(created, data.DATA_EPOCH - 60)
        status = rng.pick(STATUSES)
        etype, native, ext = rng.pick(ENTITIES)
        name = f"res-{i:06d}"
        out.append({
            "id": str(uuid.UUID(int=rng.getrandbits(128))), "status": status, "severity": rng.pick(SEVERITIES),
            "type": rng.pick(TYPES), "createdAt": data.iso_z(created), "updatedAt": data.iso_z(updated),
            "statusChangedAt": data.iso_z(updated), "dueAt": None,
            "resolvedAt": data.iso_z(updated) if status in ("RESOLVED", "REJECTED") else None,
            "sourceRule": rng.pick(rules), "control": None, "project": rng.pick(projects),
            "entitySnapshot": {"id": str(uuid.UUID(int=rng.getrandbits(128))), "type": etype, "nativeType": native,
                               "name": name, "cloudPlatform": "Azure" if "Microsoft" in native else "AWS",
                               "providerId": ext.format(n=name), "region": "us-east-1",
                               "externalId": ext.format(n=name), "subscriptionExternalId": "111122223333"},
        })
    return out


def _cursor(offset: int) -> str:
    return base64.b64encode(orjson.dumps({"fields": [{"offset": offset}]})).decode()


@register
class WizSim(VendorSim):
    name = "wiz"
    id_field = "id"
    default_credentials = {"client_id": "sim-wiz-client", "client_secret": "sim-wiz-secret"}
    default_rate_limit = 600

    def __init__(self, sim: SimHost):
        self.tokens: dict[str, list[float]] = {}  # token → [expires, uses]
        self._tok_lock = threading.Lock()
        super().__init__(sim)

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """Remediation or triage: a new status (resolved ones get resolvedAt), sometimes severity; updatedAt bumped."""
        new = dict(record)
        ts = data.iso_z(data.mutation_time(rng, round_no))
        new["status"] = rng.choice([s for s in STATUSES if s != record["status"]])
        new["statusChangedAt"] = new["updatedAt"] = ts
        new["resolvedAt"] = ts if new["status"] in ("RESOLVED", "REJECTED") else None
        if rng.random() < 0.3:
            new["severity"] = rng.choice([s for s in SEVERITIES if s != record["severity"]])
        return new

    # ---- dialect -------------------------------------------------------------------------------

    def error(self, status: int, message: str) -> Response:
        code = {401: "UNAUTHENTICATED", 429: "RATE_LIMIT_EXCEEDED", 400: "BAD_USER_INPUT"}.get(status, "INTERNAL")
        return json_response(status, {"errors": [{"message": message, "extensions": {"code": code}}]})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        """A GraphQL error inside HTTP 200, with the wait in extensions.retryAfter (seconds, rounded up)."""
        wait = max(1, math.ceil(reset_epoch - time.time()))
        return json_response(200, {"data": None, "errors": [{
            "message": "Rate limit exceeded", "extensions": {"code": "RATE_LIMIT_EXCEEDED", "retryAfter": wait}}]})

    @route("POST", "/oauth/token", data_request=False)
    def token(self, req: Request) -> Response:
        form = req.form()
        if form.get("grant_type") != "client_credentials" or form.get("audience") != "wiz-api":
            return json_response(400, {"error": "invalid_request",
                                       "error_description": "grant_type client_credentials and audience wiz-api"})
        if (form.get("client_id"), form.get("client_secret")) != (self.credentials["client_id"],
                                                                  self.credentials["client_secret"]):
            return json_response(401, {"error": "access_denied", "error_description": "Unauthorized"})
        tok, ttl = secrets.token_urlsafe(64), int(self.sim.config.token_ttl)
        with self._tok_lock:
            self.tokens[tok] = [time.time() + ttl, 0]
        return json_response(200, {"access_token": tok, "token_type": "Bearer", "expires_in": ttl})

    def authenticate(self, req: Request) -> Response | None:
        scheme, _, tok = (req.headers.get("Authorization") or "").partition(" ")
        limit = int(self.faults.get("token_expire_after_requests") or 0)
        with self._tok_lock:
            hit = self.tokens.get(tok.strip()) if scheme == "Bearer" else None
            if hit is not None:
                hit[1] += 1
                if hit[0] > time.time() and not (limit and hit[1] > limit):
                    return None
                del self.tokens[tok.strip()]
        return self.error(401, "unauthenticated: invalid or expired token")

    # ---- GraphQL ---------------------------------------------------------------------------------

    @staticmethod
    def _graphql_error(message: str) -> Response:
        return json_response(200, {"data": None, "errors": [{"message": message,
                                                             "extensions": {"code": "BAD_USER_INPUT"}}]})

    @route("POST", "/graphql")
    def graphql(self, req: Request) -> Response:
        body = req.json() or {}
        m = _CONNECTION.search(str(body.get("query") or ""))
        if not m or m[1] != "issuesV2":
            return self._graphql_error("the simulator serves the issuesV2 query only")
        vs = body.get("variables") or {}
        first = vs.get("first") or 50
        if not isinstance(first, int) or not 1 <= first <= MAX_FIRST:
            return self._graphql_error(f"first must be between 1 and {MAX_FIRST}")
        offset = 0
        if vs.get("after"):
            try:
                offset = int(orjson.loads(base64.b64decode(vs["after"]))["fields"][0]["offset"])
            except (ValueError, KeyError, IndexError, TypeError):
                return self._graphql_error("invalid cursor")
        f = vs.get("filterBy") or {}

        def keep(r: dict) -> bool:
            for fld in ("createdAt", "updatedAt"):
                rng = f.get(fld) or {}
                if rng.get("after") and not data.parse_iso(r[fld]) > data.parse_iso(rng["after"]):
                    return False
                if rng.get("before") and not data.parse_iso(r[fld]) < data.parse_iso(rng["before"]):
                    return False
            return all(not f.get(k) or r[k] in f[k] for k in ("status", "severity", "type"))

        with self.lock:
            hits = [self.records[rid] for rid in self.order if keep(self.records[rid])]
        page = hits[offset: offset + first]
        more = offset + first < len(hits)
        info = {"hasNextPage": more, "endCursor": _cursor(offset + len(page)) if page else None}
        return json_response(200, {"data": {"issuesV2": {"nodes": page, "pageInfo": info, "totalCount": len(hits)}}})
