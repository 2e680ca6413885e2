"""OneLogin users (API v2), as in ../shared/vendor-apis-2.md §37.

Served under ``/onelogin`` (``https://<subdomain>.onelogin.com``):

* ``POST /auth/oauth2/v2/token``: HTTP Basic ``client_id:client_secret`` and the JSON body
  ``{"grant_type": "client_credentials"}`` → ``{"access_token", "created_at", "expires_in": 36000,
  "refresh_token", "token_type": "bearer", "account_id"}``. Wrong credentials: 401 ``{"status": {"error",
  "code", "type", "message"}}``; a grant that is not that JSON: 400.
* ``GET /api/2/users?limit=&cursor=&updated_since=&page=`` → a **bare JSON array**. ``limit`` at most 100
  (default 50). The next page's cursor is the ``After-Cursor`` response header (``Before-Cursor`` the
  previous one), absent on the last page; a cursor carries its query, so later pages need only
  ``cursor=``. ``updated_since`` keeps users updated at or after it.
* Every answer carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` - the
  **seconds until** the window resets, not an instant; over the limit 429 with those headers only.
* Errors: ``{"statusCode", "name", "message"}``. ``status`` and ``state`` are ints.
"""
from __future__ import annotations

import math
import random
import time

import orjson

from nexus_sync.simulator import BadRequest, Request, Response, VendorSim, data, json_response, register, route
from nexus_sync.simulator.cursors import opaque, read_opaque
from nexus_sync.simulator.tokens import TokenIssuer, basic_client

MAX_LIMIT, DEFAULT_LIMIT = 100, 50
TOKEN_TTL = 36_000  # OneLogin's: 10 h (the simulator's token_ttl wins when it is shorter)
_NAMES = {400: "BadRequestError", 401: "UnauthorizedError", 403: "ForbiddenError", 404: "NotFoundError",
          405: "MethodNotAllowedError", 429: "TooManyRequestsError", 500: "InternalServerError",
          503: "ServiceUnavailableError"}
_STATUSES = [1] * 14 + [0, 2, 3, 4, 5, 7]
_GIVEN = ["Jane", "John", "Ada", "Alan", "Grace", "Linus", "Maria", "Wei", "Olu", "Priya", "Sven", "Yuki"]
_FAMILY = ["Doe", "Lovelace", "Turing", "Hopper", "Torvalds", "Garcia", "Zhang", "Adeyemi", "Iyer", "Berg"]
ROLES = [123456, 123457, 123458, 200001]


@data.register_generator("onelogin")
def generate(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "onelogin", "records")
    out = []
    for i in range(size):
        given, family = rng.pick(_GIVEN), rng.pick(_FAMILY)
        created = rng.between(data.DATA_START, data.DATA_EPOCH - 30 * data.DAY)
        updated = rng.between(created, data.DATA_EPOCH - 60)
        login = rng.between(updated, data.DATA_EPOCH - 30) if rng.random() < 0.85 else None
        user_status = rng.pick(_STATUSES)
        out.append({
            "id": 201_000_000 + i * 7 + rng.below(7), "username": f"{given[0].lower()}{family.lower()}{i}",
            "email": f"{given.lower()}.{family.lower()}{i}@example.com", "firstname": given, "lastname": family,
            "state": 1, "status": user_status, "directory_id": None, "external_id": None,
            "role_ids": rng.sample(ROLES, rng.below(3)), "group_id": rng.pick([98765, 98766, None]),
            "created_at": data.iso_ms_z(created, rng.below(1000)), "updated_at": data.iso_ms_z(updated, rng.below(1000)),
            "activated_at": data.iso_ms_z(created + 3600, 0) if user_status else None,
            "last_login": None if login is None else data.iso_ms_z(login, rng.below(1000)),
            "password_changed_at": data.iso_ms_z(rng.between(created, updated + 1), 0),
            "invalid_login_attempts": rng.below(3), "locked_until": None,
            "custom_attributes": {"employee_id": f"E{1000 + i}"},
        })
    return out


@register
class OneLoginSim(TokenIssuer, VendorSim):
    name = "onelogin"
    id_field = "id"
    default_credentials = {"client_id": "sim-onelogin-client", "client_secret": "sim-onelogin-secret"}
    default_rate_limit = 600
    sliding_window = False

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        ts = data.mutation_time(rng, round_no)
        new = {**record, "updated_at": data.iso_ms_z(ts, rng.randrange(1000))}
        if rng.random() < 0.3:
            new["status"] = rng.choice([s for s in (1, 2, 3) if s != record["status"]])
        else:
            new["last_login"] = data.iso_ms_z(ts - rng.randrange(10, 600), rng.randrange(1000))
        return new

    def render(self, obj) -> bytes:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)  # user ids are ints: truth() is keyed by them

    # ---- dialect
    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"statusCode": status, "name": _NAMES.get(status, "Error"), "message": message})

    def rate_limit_headers(self, limit: int, remaining: int, reset_epoch: float) -> list[tuple[str, str]]:
        return [("X-RateLimit-Limit", str(limit)), ("X-RateLimit-Remaining", str(remaining)),
                ("X-RateLimit-Reset", str(max(0, math.ceil(reset_epoch - time.time()))))]  # seconds from now

    def authenticate(self, req: Request) -> Response | None:
        return None if self.bearer_claims(req) is not None else self.error(401, "Unauthorized")

    # ---- token
    @route("POST", r"/auth/oauth2/v2/token", data_request=False)
    def token(self, req: Request) -> Response:
        if basic_client(req) != (self.credentials["client_id"], self.credentials["client_secret"]):
            return json_response(401, {"status": {"error": True, "code": 401, "type": "Unauthorized",
                                                  "message": "Authentication Failure"}})
        try:
            grant = orjson.loads(req.body or b"null")
        except orjson.JSONDecodeError:
            grant = None
        if not isinstance(grant, dict) or grant.get("grant_type") != "client_credentials":
            return json_response(400, {"status": {"error": True, "code": 400, "type": "bad request",
                                                  "message": "grant_type is incorrect/absent"}})
        ttl = min(TOKEN_TTL, int(self.sim.config.token_ttl))
        return json_response(200, {"access_token": self.tokens.issue(ttl), "created_at": data.iso_ms_z(int(time.time())),
                                   "expires_in": ttl, "refresh_token": None, "token_type": "bearer",
                                   "account_id": 555555})

    # ---- users
    @route("GET", r"/api/2/users")
    def list_users(self, req: Request) -> Response:
        limit = min(req.int_arg("limit", DEFAULT_LIMIT, 1, None), MAX_LIMIT)
        cursor = req.arg("cursor")
        if cursor:
            state = read_opaque(cursor, "k", "u")  # the cursor carries its query
            start, since = int(state["k"]), str(state["u"])
        else:
            since = req.arg("updated_since") or ""
            start = (req.int_arg("page", 1, 1, None) - 1) * limit
        if since:
            try:
                at = data.parse_iso(since)
            except ValueError:
                raise BadRequest(f"updated_since: not an ISO-8601 time: {since!r}") from None
            since = data.iso_ms_z(int(at.timestamp()), at.microsecond // 1000)  # one layout: compares as text
        with self.lock:
            rows = [self.records[rid] for rid in self.order if not since or self.records[rid]["updated_at"] >= since]
        page = rows[start:start + limit]
        resp = Response(200, self.render(page))
        if start + limit < len(rows):
            resp.headers.append(("After-Cursor", opaque({"k": start + limit, "u": since})))
        if start > 0:
            resp.headers.append(("Before-Cursor", opaque({"k": max(0, start - limit), "u": since})))
        return resp
