"""PingOne (Platform API) users, as in ../shared/vendor-apis-2.md §34.

Served under ``/pingone`` (the API host ``api.pingone.<tld>`` and, for the token, the auth host):

* ``POST /{envId}/as/token`` (the auth host ``auth.pingone.<tld>``): form ``grant_type=client_credentials``,
  the Worker app's id and secret by client_secret_post (form) or client_secret_basic (Basic header) →
  ``{"access_token", "token_type": "Bearer", "expires_in"}``. A token is good for its own environment only.
  An environment this region does not hold answers 404 (quirk 1: the wrong region's host knows nothing of
  it); bad client credentials 401 ``invalid_client``.
* ``GET /v1/environments/{envId}/users?limit=&cursor=`` → ``{"_links": {"self", "next"}, "_embedded":
  {"users": [...]}, "count": <all>, "size": <this page>}``. ``limit`` is capped at 200 and the page may be
  smaller still (the ``page_cap`` knob): only the absence of ``_links.next`` ends the listing. ``next.href``
  is an absolute URL carrying an opaque ``cursor`` (base64 JSON) and the limit.
* ``Authorization: Bearer`` required: else 401 ``{"id", "code": "INVALID_TOKEN", "message"}``. Errors are
  ``{"id", "code", "message"}``; over the per-minute budget 429 ``REQUEST_LIMITED`` with no ``Retry-After``
  (its presence is unconfirmed).
"""
from __future__ import annotations

import random
import uuid

from nexus_sync.simulator import BadRequest, Request, Response, VendorSim, data, json_response, register, route
from nexus_sync.simulator.cursors import opaque, read_opaque
from nexus_sync.simulator.tokens import TokenIssuer, basic_client

ENVIRONMENT = "abfba8f6-49e2-4b2b-9f1e-6c1d0b6f7a10"  # the one simulated environment
MAX_LIMIT = 200
DEFAULT_LIMIT = 100
_CODES = {400: "INVALID_DATA", 401: "INVALID_TOKEN", 403: "ACCESS_FAILED", 404: "NOT_FOUND",
          405: "METHOD_NOT_ALLOWED", 429: "REQUEST_LIMITED", 500: "UNEXPECTED_SERVER_ERROR",
          503: "UNEXPECTED_SERVER_ERROR"}
_LIFECYCLE = ["ACCOUNT_OK"] * 9 + ["VERIFICATION_REQUIRED"]
_GIVEN = ["Jane", "John", "Ada", "Alan", "Grace", "Linus", "Maria", "Wei", "Olu", "Priya", "Sven", "Yuki"]
_FAMILY = ["Doe", "Lovelace", "Turing", "Hopper", "Torvalds", "Garcia", "Zhang", "Adeyemi", "Iyer", "Berg"]
POPULATIONS = ["60971d3b-cc5a-4601-9c44-2be541f91bf1", "0c1b7f4e-8f0a-4d47-9a55-3d3f5b8c2e11"]


def _uuid(rng: data.FastRandom) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@data.register_generator("pingone")
def generate(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "pingone", "records")
    out = []
    for i in range(size):
        given, family = rng.pick(_GIVEN), rng.pick(_FAMILY)
        username = f"{given[0].lower()}{family.lower()}{i}"
        created = rng.between(data.DATA_START, data.DATA_EPOCH - 30 * data.DAY)
        updated = rng.between(created, data.DATA_EPOCH - 60)
        enabled = rng.random() > 0.08
        user = {
            "_links": {"self": {"href": f"https://api.pingone.eu/v1/environments/{ENVIRONMENT}/users/{i}"}},
            "id": _uuid(rng), "environment": {"id": ENVIRONMENT},
            "account": {"canAuthenticate": enabled, "status": "LOCKED" if rng.random() < 0.03 else "OK"},
            "createdAt": data.iso_ms_z(created, rng.below(1000)), "email": f"{username}@example.com",
            "enabled": enabled, "identityProvider": {"type": "PING_ONE"},
            "lifecycle": {"status": rng.pick(_LIFECYCLE)}, "mfaEnabled": rng.random() < 0.7,
            "name": {"given": given, "family": family}, "population": {"id": rng.pick(POPULATIONS)},
            "updatedAt": data.iso_ms_z(updated, rng.below(1000)), "username": username, "verifyStatus": "NOT_INITIATED",
        }
        if rng.random() < 0.85:
            user["lastSignOn"] = {"at": data.iso_ms_z(rng.between(updated, data.DATA_EPOCH - 30), rng.below(1000)),
                                  "remoteIp": f"198.51.100.{1 + rng.below(254)}"}
        out.append(user)
    return out


@register
class PingOneSim(TokenIssuer, VendorSim):
    name = "pingone"
    id_field = "id"
    default_credentials = {"client_id": "sim-pingone-worker", "client_secret": "sim-pingone-secret"}
    default_rate_limit = 600
    extra_knobs = {"page_cap": MAX_LIMIT}  # the most users a page holds, whatever `limit` asked

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        ts = data.mutation_time(rng, round_no)
        new = {**record, "updatedAt": data.iso_ms_z(ts, rng.randrange(1000))}
        if rng.random() < 0.3:
            new["enabled"] = not record["enabled"]
            new["account"] = {**record["account"], "canAuthenticate": new["enabled"]}
        else:
            new["lastSignOn"] = {"at": data.iso_ms_z(ts - rng.randrange(10, 600), rng.randrange(1000)),
                                 "remoteIp": f"198.51.100.{rng.randrange(1, 255)}"}
        return new

    # ---- dialect
    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"id": str(uuid.uuid4()), "code": _CODES.get(status, "UNEXPECTED_SERVER_ERROR"),
                                      "message": message})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        return self.error(429, "The request was limited. Retry later.")

    def authenticate(self, req: Request) -> Response | None:
        claims = self.bearer_claims(req)
        if claims is None or claims.get("environment") != ENVIRONMENT:
            return self.error(401, "The request could not be completed. The access token is invalid or expired.")
        return None

    # ---- the auth host
    @route("POST", r"/(?P<env>[^/]+)/as/token", data_request=False)
    def token(self, req: Request, env: str) -> Response:
        if env != ENVIRONMENT:  # another region's environment, or none
            return self.error(404, "The requested resource was not found.")
        form = req.form()
        client = basic_client(req) or (form.get("client_id"), form.get("client_secret"))  # _basic or _post
        if form.get("grant_type") != "client_credentials":
            return json_response(400, {"error": "unsupported_grant_type",
                                       "error_description": "The grant type is not supported."})
        if client != (self.credentials["client_id"], self.credentials["client_secret"]):
            return json_response(401, {"error": "invalid_client", "error_description": "Request denied: "
                                       "unsupported authentication method or invalid client credentials"})
        ttl = int(self.sim.config.token_ttl)
        token = self.tokens.issue(ttl, environment=env)
        return json_response(200, {"access_token": token, "token_type": "Bearer", "expires_in": ttl,
                                   "scope": "p1:read:user"})

    # ---- users
    @route("GET", r"/v1/environments/(?P<env>[^/]+)/users")
    def list_users(self, req: Request, env: str) -> Response:
        if env != ENVIRONMENT:
            return self.error(404, "The requested resource was not found.")
        if req.arg("filter"):
            raise BadRequest("filter: the simulator serves no SCIM filter on /users")
        limit = req.int_arg("limit", DEFAULT_LIMIT, 1, None)
        cursor = req.arg("cursor")
        start = int(read_opaque(cursor, "k")["k"]) if cursor else 0
        size = min(limit, MAX_LIMIT, int(self.faults["page_cap"]) or MAX_LIMIT)
        with self.lock:
            users = [self.records[rid] for rid in self.order[start:start + size]]
            total = len(self.order)
        here = f"{req.base_url}/v1/environments/{env}/users"
        links = {"self": {"href": req.url}}
        if start + len(users) < total:
            cursor = opaque({"v": 1, "k": start + len(users)})
            links["next"] = {"href": f"{here}?cursor={cursor}&limit={limit}"}
        return Response(200, self.render({"_links": links, "_embedded": {"users": users}, "count": total,
                                          "size": len(users)}))
