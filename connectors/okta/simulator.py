"""Okta users, as in ../shared/vendor-apis.md §5.

Served under ``/okta``:

* ``GET /api/v1/users?limit=&after=&filter=&q=`` → bare JSON array of users. ``limit``
  defaults to 200 and is capped at 200. Paging is by ``Link`` headers only:
  ``<...>; rel="self"`` always and ``<.../okta/api/v1/users?after=<id>&limit=N>; rel="next"``
  (absolute URL, including our prefix) while more users remain; no next link on the last page.
  DEPROVISIONED users are left out unless the filter names them (``status eq "DEPROVISIONED"``), as Okta's
  list-all-users does ("returns all users that don't have a DEPROVISIONED status").
* ``GET /api/v1/users/{id}`` → one user (the target of ``_links.self.href``).
* ``Authorization: SSWS <token>`` required: else 401 E0000011.
* Every response has ``X-Rate-Limit-Limit`` / ``-Remaining`` / ``-Reset`` (epoch seconds,
  fixed one-minute windows); over the limit → 429 E0000047 with the same headers.
"""
from __future__ import annotations

import math
import random
import re
import secrets
from typing import Any, Callable
from urllib.parse import quote, urlencode

import factory

from nexus_sync.simulator import BadRequest, Request, Response, VendorSim, data, register, route

MAX_LIMIT = 200
_TS_FIELDS = {"created", "activated", "statusChanged", "lastLogin", "lastUpdated", "passwordChanged"}
_FILTER_CLAUSE = re.compile(r'^\s*(?P<field>[A-Za-z_.]+)\s+(?P<op>eq|gt|ge|lt|le)\s+"(?P<value>[^"]*)"\s*$', re.I)
_ERRORS = {
    400: ("E0000001", "Api validation failed: {message}"),
    401: ("E0000011", "Invalid token provided"),
    404: ("E0000007", "Not found: Resource not found: {message}"),
    405: ("E0000022", "The endpoint does not support the provided HTTP method"),
    429: ("E0000047", "API call exceeded rate limit due to too many requests."),
    500: ("E0000009", "Internal Server Error"),
    503: ("E0000009", "Internal Server Error"),
}


# ---------------------------------------------------------------- the users (fake data)

OKTA_STATUSES = ["ACTIVE", "STAGED", "PROVISIONED", "RECOVERY", "LOCKED_OUT", "PASSWORD_EXPIRED", "SUSPENDED",
                 "DEPROVISIONED"]
OKTA_STATUS_WEIGHTS = [80, 3, 3, 2, 2, 3, 4, 3]
# placeholder org URL in generated _links; the simulator rewrites it to its own base URL
OKTA_ORG_URL = "https://nexus-sim.okta.com"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_NAME_CLEAN = re.compile(r"[^a-z0-9]")


class OktaUserProfileFactory(factory.DictFactory):
    """Name material for Okta users (first/last names are recombined per record)."""

    firstName = factory.Faker("first_name")
    lastName = factory.Faker("last_name")
    domain = factory.Faker("random_element", elements=["example.com", "example.com", "example.com", "corp.example.com"])


@data.register_generator("okta")
def generate_okta(seed: int, size: int) -> list[dict]:
    profiles = data.build_profiles(OktaUserProfileFactory, seed, "okta")
    rng = data.vendor_rng(seed, "okta", "records")
    below, between, pick = rng.below, rng.between, rng.pick
    names = [(p["firstName"], _NAME_CLEAN.sub("", p["firstName"].lower()),
              p["lastName"], _NAME_CLEAN.sub("", p["lastName"].lower()), p["domain"]) for p in profiles]
    # cumulative weights → status by one uniform draw
    cum, acc = [], 0
    for w in OKTA_STATUS_WEIGHTS:
        acc += w
        cum.append(acc)
    status_table = [OKTA_STATUSES[next(k for k, c in enumerate(cum) if c > x)] for x in range(acc)]
    seen_ids: set[str] = set()
    emails: set[str] = set()  # Okta logins/emails are unique within an org
    out: list[dict] = []
    append = out.append
    for _ in range(size):
        uid = _okta_id(rng)
        while uid in seen_ids:
            uid = _okta_id(rng)
        seen_ids.add(uid)
        first, first_l, _, _, _ = pick(names)
        _, _, last, last_l, _ = pick(names)
        domain = pick(names)[4]
        local = f"{first_l}.{last_l}"
        email, k = f"{local}@{domain}", 1
        while email in emails:
            k += 1
            email = f"{local}{k}@{domain}"
        emails.add(email)
        status = pick(status_table)
        created = between(data.DATA_START, data.DATA_EPOCH - 60 * data.DAY)
        if status in ("STAGED", "PROVISIONED"):
            activated = None
            status_changed = created if status == "STAGED" else created + between(60, 3 * data.DAY)
            last_login = None
            password_changed = None
        else:
            activated = created + between(60, 2 * data.DAY)
            status_changed = activated if status == "ACTIVE" else between(activated, data.DATA_EPOCH - data.DAY)
            last_login = between(activated, data.DATA_EPOCH - 60)
            password_changed = between(activated, data.DATA_EPOCH - 120)
        last_updated = max(x for x in (created, activated, status_changed, password_changed) if x is not None)
        last_updated = min(data.DATA_EPOCH - 1, last_updated + below(7 * data.DAY))
        append({
            "id": uid,
            "status": status,
            "created": data.iso_ms_z(created, below(1000)),
            "activated": None if activated is None else data.iso_ms_z(activated, below(1000)),
            "statusChanged": data.iso_ms_z(status_changed, below(1000)),
            "lastLogin": None if last_login is None else data.iso_ms_z(last_login, below(1000)),
            "lastUpdated": data.iso_ms_z(last_updated, below(1000)),
            "passwordChanged": None if password_changed is None else data.iso_ms_z(password_changed, below(1000)),
            "transitioningToStatus": None,
            "type": {"id": "oty1a2b3c4d5e6f7g8h9"},
            "profile": {"firstName": first, "lastName": last, "mobilePhone": None, "secondEmail": None,
                        "login": email, "email": email},
            "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}} if status != "STAGED" else {},
            "_links": {"self": {"href": f"{OKTA_ORG_URL}/api/v1/users/{uid}"}},
        })
    return out


_BASE62_PAIRS = [a + b for a in _BASE62 for b in _BASE62]


def _okta_id(rng: data.FastRandom) -> str:
    """'00u' + 17 base62 chars (20 in all), like 00u1abcdEFGH2ijkl3m4."""
    pairs, n = _BASE62_PAIRS, len(_BASE62_PAIRS)
    R = rng.random
    return "00u" + "".join([pairs[int(R() * n)] for _ in range(9)])[:17]


def mutate_okta(rec: dict, rng: random.Random, round_no: int) -> dict:
    """A changed copy of a user: status change and/or a new login; lastUpdated always bumped."""
    new = dict(rec)
    ts = data.mutation_time(rng, round_no)
    ms = rng.randrange(1000)
    if rec["status"] in ("STAGED", "PROVISIONED"):
        new["status"] = "ACTIVE"
        new["activated"] = new["statusChanged"] = data.iso_ms_z(ts - 5, ms)
        new["credentials"] = {"provider": {"type": "OKTA", "name": "OKTA"}}
    elif rng.random() < 0.4:
        targets = [s for s in ("ACTIVE", "SUSPENDED", "LOCKED_OUT", "PASSWORD_EXPIRED", "RECOVERY", "DEPROVISIONED")
                   if s != rec["status"]]
        new["status"] = rng.choice(targets)
        new["statusChanged"] = data.iso_ms_z(ts - 5, ms)
    if new["status"] not in ("STAGED", "PROVISIONED", "DEPROVISIONED"):
        new["lastLogin"] = data.iso_ms_z(ts - rng.randrange(10, 600), rng.randrange(1000))
    new["lastUpdated"] = data.iso_ms_z(ts, ms)
    return new


# ---------------------------------------------------------------- the API


@register
class OktaSim(VendorSim):
    name = "okta"
    id_field = "id"
    default_credentials = {"token": "sim-okta-token"}
    default_rate_limit = 600
    sliding_window = False  # Okta resets its counters at X-Rate-Limit-Reset (one-minute windows)

    # ---- data: _links point at this server ---------------------------------------

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        return mutate_okta(record, rng, round_no)

    def render(self, obj: Any) -> bytes:
        raw = super().render(obj)
        return raw.replace(OKTA_ORG_URL.encode() + b"/api/v1/",
                           f"{self.sim.url}/{self.name}/api/v1/".encode())

    # ---- dialect ---------------------------------------------------------------------

    def error(self, status: int, message: str) -> Response:
        code, summary = _ERRORS.get(status, ("E0000009", "Internal Server Error"))
        summary = summary.format(message=message)
        body = {"errorCode": code, "errorSummary": summary, "errorLink": code,
                "errorId": "oae" + secrets.token_urlsafe(16)[:19],
                "errorCauses": [{"errorSummary": message}] if status == 400 else []}
        return Response(status, self.render(body))

    def rate_limit_headers(self, limit: int, remaining: int, reset_epoch: float) -> list[tuple[str, str]]:
        return [("X-Rate-Limit-Limit", str(limit)), ("X-Rate-Limit-Remaining", str(remaining)),
                ("X-Rate-Limit-Reset", str(math.ceil(reset_epoch)))]

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        resp = self.error(429, "rate limit")
        resp.headers.extend(self.rate_limit_headers(limit, 0, reset_epoch))
        return resp

    def authenticate(self, req: Request) -> Response | None:
        scheme, _, token = (req.headers.get("Authorization") or "").partition(" ")
        if scheme == "SSWS" and token.strip() and token.strip() == self.credentials.get("token"):
            return None
        return self.error(401, "invalid token")

    # ---- vendor events ----------------------------------------------------------------------

    def deprovision_users(self, count: int) -> list[str]:
        """Offboard `count` users who are not DEPROVISIONED yet (deterministic per seed and round): status
        DEPROVISIONED, statusChanged and lastUpdated now, as Okta's deactivate lifecycle operation leaves them."""
        with self.lock:
            self.round += 1
            rng = data.vendor_rng(self.seed, self.name, "deprovision", self.round)
            live = [rid for rid in self.order if self.records[rid]["status"] != "DEPROVISIONED"]
            ids = sorted(rng.sample(live, min(count, len(live))), key=self.position.__getitem__)
            ts = data.mutation_time(rng, self.round)
            for rid in ids:
                at = data.iso_ms_z(ts, rng.randrange(1000))
                self.records[rid] = {**self.records[rid], "status": "DEPROVISIONED", "statusChanged": at,
                                     "lastUpdated": at, "transitioningToStatus": None}
            self.version += 1
            self.on_data_changed()
            return ids

    # ---- users --------------------------------------------------------------------------

    def _predicate(self, flt: str, q: str) -> Callable[[dict], bool] | None:
        clauses = []
        if flt.strip():
            for part in re.split(r"\s+and\s+", flt.strip(), flags=re.I):
                m = _FILTER_CLAUSE.match(part)
                if not m:
                    raise BadRequest(f"filter: unsupported expression {part!r}")
                fld, op, value = m["field"], m["op"].lower(), m["value"]
                if fld in _TS_FIELDS:
                    try:
                        ts = data.parse_iso(value)
                    except ValueError:
                        raise BadRequest(f"filter: invalid timestamp {value!r}") from None
                    value = data.iso_ms_z(int(ts.timestamp()), ts.microsecond // 1000)
                elif fld not in ("status", "id", "profile.login", "profile.email", "profile.firstName",
                                 "profile.lastName"):
                    raise BadRequest(f"filter: unsupported field {fld!r}")
                elif op != "eq":
                    raise BadRequest(f"filter: {fld} supports eq only")
                clauses.append((fld, op, value))
        q = q.strip().lower()
        if not clauses and not q:
            return None

        def get(rec: dict, fld: str) -> Any:
            if fld.startswith("profile."):
                return (rec.get("profile") or {}).get(fld[8:])
            return rec.get(fld)

        def pred(rec: dict) -> bool:
            for fld, op, value in clauses:
                have = get(rec, fld)
                if have is None:
                    return False
                if op == "eq":
                    ok = have == value
                elif op == "gt":
                    ok = have > value
                elif op == "ge":
                    ok = have >= value
                elif op == "lt":
                    ok = have < value
                else:
                    ok = have <= value
                if not ok:
                    return False
            if q:  # Okta's q: startsWith on firstName, lastName or email
                p = rec.get("profile") or {}
                if not any(str(p.get(k) or "").lower().startswith(q) for k in ("firstName", "lastName", "email")):
                    return False
            return True

        return pred

    @route("GET", "/api/v1/users")
    def list_users(self, req: Request) -> Response:
        if req.arg("search"):
            raise BadRequest("search: not supported by the simulator (use filter or q)")
        raw_limit = req.arg("limit")
        try:
            limit = MAX_LIMIT if raw_limit in (None, "") else int(raw_limit)
        except ValueError:
            raise BadRequest(f"limit: not a number: {raw_limit!r}") from None
        if limit < 1:
            raise BadRequest("limit: must be at least 1")
        limit = min(limit, MAX_LIMIT)  # Okta caps, it does not reject
        flt, q = req.arg("filter", "") or "", req.arg("q", "") or ""
        pred = self._predicate(flt, q)
        if not _names_deprovisioned(flt):  # list-all (and a filter that does not ask) hides them
            asked = pred
            pred = lambda rec: rec["status"] != "DEPROVISIONED" and (asked is None or asked(rec))  # noqa: E731
        after = req.arg("after")
        with self.lock:
            order, records = self.order, self.records
            if after:
                if after not in self.position:
                    raise BadRequest(f"after: unknown cursor {after!r}")
                start = self.position[after] + 1
            else:
                start = 0
            page: list[dict] = []
            i, n = start, len(order)
            while i < n and len(page) < limit:
                rec = records[order[i]]
                if pred is None or pred(rec):
                    page.append(rec)
                i += 1
            more = False
            if len(page) == limit:
                if pred is None:
                    more = i < n
                else:
                    more = any(pred(records[order[j]]) for j in range(i, n))
        resp = Response(200, self.render(page))
        resp.headers.append(("Link", f'<{req.url}>; rel="self"'))
        if more:
            params = {"after": page[-1]["id"], "limit": str(limit)}
            if flt:
                params["filter"] = flt
            if q:
                params["q"] = q
            nxt = f"{req.base_url}/api/v1/users?{urlencode(params, quote_via=quote)}"
            resp.headers.append(("Link", f'<{nxt}>; rel="next"'))
        return resp

    @route("GET", "/api/v1/users/(?P<user_id>[^/]+)")
    def get_user(self, req: Request, user_id: str) -> Response:
        with self.lock:
            rec = self.records.get(user_id)
            if rec is None:  # Okta also resolves a login here
                rec = next((r for r in self.records.values()
                            if (r.get("profile") or {}).get("login", "").lower() == user_id.lower()), None)
        if rec is None:
            return self.error(404, f"{user_id} (User)")
        return Response(200, self.render(rec))


def _names_deprovisioned(flt: str) -> bool:
    """Whether a filter asks for DEPROVISIONED users by status (the only way Okta lists them)."""
    return any((m := _FILTER_CLAUSE.match(part)) and m["field"] == "status" and m["value"] == "DEPROVISIONED"
               for part in re.split(r"\s+and\s+", flt.strip(), flags=re.I))
