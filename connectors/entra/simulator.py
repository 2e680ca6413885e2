"""Microsoft Entra ID users via Microsoft Graph, as in ../shared/vendor-apis.md §6.

Served under ``/entra``:

* ``POST /{tenant}/oauth2/v2.0/token``: the Entra ID token endpoint (see _microsoft.py), scope
  ``https://graph.microsoft.com/.default``.
* ``GET /v1.0/users?$top=&$select=&$skiptoken=`` → ``{"@odata.context", "value": [...]}`` plus an absolute
  ``@odata.nextLink`` carrying an opaque ``$skiptoken`` while users remain. ``$top`` 1..999 (default 100);
  ``$skip`` and ``$filter`` → 400. Without ``$select`` only Graph's default property set is returned.
  Deleted users are not listed here.
* ``GET /v1.0/users/delta?$select=`` (learn.microsoft.com/graph/delta-query-users): the first round lists every
  user, later rounds (from a ``@odata.deltaLink``) the users changed since, a deleted one as
  ``{"id", "@removed": {"reason": "changed"}}``; pages follow ``@odata.nextLink`` and the last one carries the
  ``@odata.deltaLink``. ``$select`` is kept inside the tokens. ``$top`` is ignored (Graph's own page size: the
  ``delta_page_size`` knob). ``$deltatoken=latest`` answers no users and a deltaLink for "from now on".
  A deltatoken older than ``delta_token_ttl_seconds`` → 400 ``syncStateNotFound`` (identity resources, devblog
  2020-07-03); the ``resync_required`` knob → 410 Gone ``resyncRequired`` for every deltatoken (unconfirmed
  for directory objects: the Outlook resources answer so).
* ``GET /v1.0/directory/deletedItems/microsoft.graph.user?$top=&$select=`` lists soft-deleted users (with
  ``deletedDateTime``, kept 30 days); ``GET /v1.0/directory/deletedItems/{id}`` one of them, else 404.
* A skiptoken older than the ``page_token_ttl_seconds`` knob → 400 ``Directory_ExpiredPageToken`` (any listing);
  so does each of the next ``expire_next_page_tokens`` skiptokens presented, whatever its age.
* Over the rate limit → 429 ``TooManyRequests`` with ``Retry-After`` seconds.
"""
from __future__ import annotations

import base64
import binascii
import random
import time
from typing import Any

import factory
import orjson

from nexus_sync.simulator import BadRequest, Request, Response, data, json_response, register, route
from nexus_sync.simulator.microsoft import MicrosoftSim

MAX_TOP, DEFAULT_TOP = 999, 100
EXPIRED_DELTA = ("The sync state generation is not found. The delta token is expired and data must be synchronized "
                 "again.")
DEFAULT_SELECT = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
                  "preferredLanguage", "surname", "userPrincipalName", "id")
DOMAIN = "contoso.onmicrosoft.com"
_TITLES = ["Analyst", "Engineer", "Manager", "Director", "Technician", "Consultant", None]
_DEPARTMENTS = ["SecOps", "Finance", "HR", "Engineering", "Sales", "Legal", None]


class EntraNameFactory(factory.DictFactory):
    givenName = factory.Faker("first_name")
    surname = factory.Faker("last_name")
    city = factory.Faker("city")


@data.register_generator("entra")
def generate(seed: int, size: int) -> list[dict]:
    names = data.build_profiles(EntraNameFactory, seed, "entra")
    rng = data.vendor_rng(seed, "entra", "records")
    deleted = data.vendor_rng(seed, "entra", "deleted")  # its own stream: the other users stay as they were
    out = []
    for i in range(size):
        given, surname, city = rng.pick(names)["givenName"], rng.pick(names)["surname"], rng.pick(names)["city"]
        local = f"{given}.{surname}{i}".lower().replace(" ", "").replace("'", "")
        guest = rng.random() < 0.05
        upn = f"{local}_example.com#EXT#@{DOMAIN}" if guest else f"{local}@{DOMAIN}"
        h = f"{rng.getrandbits(128):032x}"
        out.append({
            "id": f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}", "userPrincipalName": upn,
            "displayName": f"{given} {surname}", "mail": f"{local}@example.com" if guest or rng.random() < 0.9 else None,
            "givenName": given, "surname": surname, "accountEnabled": rng.random() < 0.92,
            "jobTitle": rng.pick(_TITLES), "department": rng.pick(_DEPARTMENTS),
            "employeeId": None if guest else f"E{10000 + i}", "employeeType": "Guest" if guest else "Employee",
            "createdDateTime": data.iso_z(rng.between(data.DATA_START, data.DATA_EPOCH - data.DAY)),
            "mobilePhone": None, "businessPhones": [], "officeLocation": city, "preferredLanguage": "en-US",
        })
        if deleted.random() < 0.03:  # in the recycle bin: soft-deleted within the last 30 days
            out[-1]["deletedDateTime"] = data.iso_z(data.DATA_EPOCH - deleted.between(data.DAY, 29 * data.DAY))
    return out


@register
class EntraSim(MicrosoftSim):
    name = "entra"
    id_field = "id"
    scope = "https://graph.microsoft.com/.default"
    default_credentials = {"client_id": "sim-graph-client", "client_secret": "sim-graph-secret"}
    default_rate_limit = 2000
    # 0 = tokens never expire; Graph picks the delta page size itself
    extra_knobs = {"page_token_ttl_seconds": 0.0, "expire_next_page_tokens": 0, "delta_token_ttl_seconds": 0.0,
                   "resync_required": 0, "delta_page_size": 100}
    error_codes = {**MicrosoftSim.error_codes, 400: "Request_BadRequest", 401: "InvalidAuthenticationToken",
                   404: "Request_ResourceNotFound", 503: "ServiceNotAvailable"}

    # ---- data and its change log (what a delta round reports)
    def load(self) -> None:
        super().load()
        with self.lock:
            self.seq = 0  # bumps on every change; a deltatoken remembers the value it was issued at
            self.changed: dict[str, int] = {}

    def _touch(self, rid: str) -> None:
        self.seq += 1
        self.changed[rid] = self.seq

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        # Graph users carry no modification time: a change shows only in the fields themselves (and in delta)
        self._touch(record["id"])
        new = dict(record)
        new.update(jobTitle=rng.choice([t for t in _TITLES if t != record["jobTitle"]]),
                   department=rng.choice([d for d in _DEPARTMENTS if d != record["department"]]))
        if rng.random() < 0.5:  # leaver/returner
            new["accountEnabled"] = not record["accountEnabled"]
        else:  # a name change
            new["surname"] = rng.choice(["Smith", "Garcia", "Nguyen", "Okafor", "Schmidt", "Rossi"]) + "-" + record["surname"]
            new["displayName"] = f"{record['givenName']} {new['surname']}"
        return new

    def delete_users(self, count: int) -> list[str]:
        """Delete `count` users (deterministic per seed and round): out of /users, into deleted items with
        deletedDateTime now, and `@removed` in the next delta round."""
        with self.lock:
            self.round += 1
            rng = data.vendor_rng(self.seed, self.name, "delete", self.round)
            live = [rid for rid in self.order if not self.records[rid].get("deletedDateTime")]
            ids = sorted(rng.sample(live, min(count, len(live))), key=self.position.__getitem__)
            at = data.iso_z(data.mutation_time(rng, self.round))
            for rid in ids:
                self.records[rid] = {**self.records[rid], "deletedDateTime": at}
                self._touch(rid)
            self.version += 1
            self.on_data_changed()
            return ids

    # ---- listings
    @route("GET", "/v1.0/users")
    def list_users(self, req: Request) -> Response:
        for unsupported in ("$skip", "$filter", "$orderby"):
            if req.arg(unsupported) is not None:
                raise BadRequest(f"'{unsupported}' is not supported by the simulated service.")
        return self._listing(req, "users", deleted=False)

    @route("GET", "/v1.0/directory/deletedItems/microsoft.graph.user")
    def list_deleted_users(self, req: Request) -> Response:
        return self._listing(req, "directoryObjects/microsoft.graph.user", deleted=True)

    @route("GET", "/v1.0/directory/deletedItems/(?P<rid>[0-9a-f-]{36})")
    def get_deleted_item(self, req: Request, rid: str) -> Response:
        select = _select(req)
        with self.lock:
            rec = self.records.get(rid)
            if rec is None or not rec.get("deletedDateTime"):
                return self.error(404, f"Resource '{rid}' does not exist or one of its queried reference-property "
                                       "objects are not present.")
            return json_response(200, {"@odata.context": f"{req.base_url}/v1.0/$metadata#directoryObjects/$entity",
                                       "@odata.type": "#microsoft.graph.user", **_project(rec, select)})

    def _listing(self, req: Request, entity: str, deleted: bool) -> Response:
        top = req.int_arg("$top", DEFAULT_TOP, 1, MAX_TOP)
        select = _select(req)
        try:
            skiptoken = req.arg("$skiptoken")
            start = self._read(skiptoken, "page")["p"] if skiptoken else 0
        except _GraphError as exc:
            return exc.response()
        with self.lock:
            page, after = self._scan(start, top, lambda rec: bool(rec.get("deletedDateTime")) == deleted)
            page = [_project(rec, select) for rec in page]
        body: dict[str, Any] = {"@odata.context": f"{req.base_url}/v1.0/$metadata#{entity}({','.join(select)})",
                                "value": page}
        if after is not None:
            body["@odata.nextLink"] = self.next_link(req, **{"$top": top, "$select": req.arg("$select"),
                                                             "$skiptoken": self._token("page", p=after)})
        return json_response(200, body)

    @route("GET", "/v1.0/users/delta")
    def users_delta(self, req: Request) -> Response:
        link = f"{req.base_url}/v1.0/users/delta"
        with self.lock:
            if req.arg("$deltatoken") == "latest":
                return self._delta_end(req, [], self._token("delta", s=self.seq, sel=_select(req)))
            if deltatoken := req.arg("$deltatoken"):
                if self.faults.get("resync_required"):
                    return json_response(410, {"error": {"code": "resyncRequired", "message": "Resync required. "
                                                         "Replace any local items with the server's version."}})
                try:
                    token = self._read(deltatoken, "delta")
                except _GraphError as exc:
                    return exc.response()
                window = {"since": token["s"], "upto": self.seq, "p": 0, "sel": token["sel"]}
            elif skiptoken := req.arg("$skiptoken"):
                try:
                    window = self._read(skiptoken, "round")
                except _GraphError as exc:
                    return exc.response()
            else:  # the first round: every user there is now
                window = {"since": None, "upto": self.seq, "p": 0, "sel": _select(req)}
            size = int(self.faults.get("delta_page_size") or 100)
            since = window["since"]
            if since is None:
                keep = lambda rec: not rec.get("deletedDateTime")  # noqa: E731
            else:
                keep = lambda rec: self.changed.get(rec["id"], 0) > since  # noqa: E731
            page, after = self._scan(window["p"], size, keep)
            value = [{"id": rec["id"], "@removed": {"reason": "changed"}} if rec.get("deletedDateTime")
                     else _project(rec, window["sel"]) for rec in page]
        if after is not None:
            nxt = f"{link}?$skiptoken={self._token('round', **{**window, 'p': after})}"
            return json_response(200, {"@odata.context": f"{req.base_url}/v1.0/$metadata#users", "value": value,
                                       "@odata.nextLink": nxt})
        return self._delta_end(req, value, self._token("delta", s=window["upto"], sel=window["sel"]))

    @staticmethod
    def _delta_end(req: Request, value: list[dict], token: str) -> Response:
        return json_response(200, {"@odata.context": f"{req.base_url}/v1.0/$metadata#users", "value": value,
                                   "@odata.deltaLink": f"{req.base_url}/v1.0/users/delta?$deltatoken={token}"})

    def _scan(self, start: int, size: int, keep: Any) -> tuple[list[dict], int | None]:
        """Up to `size` kept records from position `start` of the stable order, and where the next page starts
        (None after the last). Positions index the whole order, so changes between pages shift nothing."""
        page: list[dict] = []
        i, n = start, len(self.order)
        while i < n and len(page) < size:
            rec = self.records[self.order[i]]
            if keep(rec):
                page.append(rec)
            i += 1
        more = any(keep(self.records[self.order[j]]) for j in range(i, n))
        return page, (i if more else None)

    # ---- opaque tokens: what the page or round needs, and when it was issued
    @staticmethod
    def _token(kind: str, **fields: Any) -> str:
        raw = orjson.dumps({"k": kind, "t": round(time.time(), 3), **fields})
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _read(self, token: str, kind: str) -> dict[str, Any]:
        try:
            fields = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            if not isinstance(fields, dict) or fields.pop("k", None) != kind:
                raise ValueError(kind)
        except (ValueError, binascii.Error, orjson.JSONDecodeError):
            raise BadRequest(f"Invalid {'$deltatoken' if kind == 'delta' else '$skiptoken'}.") from None
        issued = float(fields.pop("t", 0) or 0)
        ttl = float(self.faults.get("delta_token_ttl_seconds" if kind == "delta" else "page_token_ttl_seconds") or 0)
        expired = bool(ttl) and time.time() - issued > ttl
        with self.lock:
            if kind != "delta" and self.faults.get("expire_next_page_tokens"):
                self.faults["expire_next_page_tokens"] -= 1
                self.count_fault("page_token_expired")
                expired = True
        if expired:
            if kind == "delta":
                raise _GraphError(400, "syncStateNotFound", EXPIRED_DELTA)
            raise _GraphError(400, "Directory_ExpiredPageToken", "The page token has expired; restart the listing.")
        return fields



class _GraphError(Exception):
    """An answer with Graph's own error code (an expired token), not the generic code of its status."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        return json_response(self.status, {"error": {"code": self.code, "message": self.message}})


def _select(req: Request) -> list[str]:
    return [f for f in (req.arg("$select") or "").split(",") if f] or list(DEFAULT_SELECT)


def _project(rec: dict, select: list[str]) -> dict:
    return {f: rec.get(f) for f in select}
