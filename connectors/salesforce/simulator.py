"""Salesforce users (and their login history) over SOQL, as in ../shared/vendor-apis-2.md §35.

Served under ``/salesforce`` (the org's My Domain, e.g. ``https://acme.my.salesforce.com``):

* ``POST /services/oauth2/token``: ``grant_type=client_credentials`` with the connected app's consumer key and
  secret in an HTTP Basic header → ``{"access_token", "instance_url", "id", "token_type": "Bearer",
  "issued_at" (ms), "signature", "scope"}`` - no ``expires_in``: the session dies by the org's policy (the
  simulator's token TTL), then data calls answer 401 ``INVALID_SESSION_ID``. Bad credentials: 400
  ``invalid_client``.
* ``GET /services/data/vNN.N/query?q=<SOQL>``: ``SELECT <fields> FROM User|LoginHistory [WHERE <field> <op>
  <dateTime literal> [AND ...]] [ORDER BY <fields>] [LIMIT n]``. dateTime literals are unquoted,
  ``YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm)``; a quoted one, or Salesforce's own ``+0000`` form, is 400
  ``MALFORMED_QUERY``. Relationship fields nest (``Profile.Name`` → ``"Profile": {"attributes", "Name"}``),
  every record carries ``attributes {type, url}``, times read ``2024-06-01T10:00:00.000+0000``.
  Answer ``{"totalSize", "done", "records", "nextRecordsUrl"?}``; the batch is ``Sforce-Query-Options:
  batchSize=n`` (default 2000; Salesforce documents 200..2000, the simulator honours smaller ones too so a
  small dataset still pages).
* ``GET /services/data/vNN.N/query/<locator>-<offset>``: the next batch; ``nextRecordsUrl`` is relative to the
  host (``/salesforce/services/...`` here, the prefix standing in for the host). An unknown locator: 400
  ``INVALID_QUERY_LOCATOR``.
* Errors are ``[{"message", "errorCode"}]``. Every answer carries ``Sforce-Limit-Info: api-usage=n/limit``
  (the org's rolling daily allocation, the ``daily_api_limit`` knob); past it, and for the rate-limit
  faults, 403 ``REQUEST_LIMIT_EXCEEDED`` - never 429.
"""
from __future__ import annotations

import random
import re
import secrets
import threading
import time
from datetime import datetime
from functools import partial
from typing import Any, Callable
from urllib.parse import urlsplit

import orjson

from connectors.salesforce.simdata import OBJECTS, sf_time, user_records
from nexus_sync.simulator import BadRequest, Request, Response, VendorSim, data, json_response, register, route
from nexus_sync.simulator.tokens import TokenIssuer, basic_client

DEFAULT_BATCH = 2000
_SOQL = re.compile(r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)(?:\s+WHERE\s+(?P<where>.+?))?"
                   r"(?:\s+ORDER\s+BY\s+(?P<order>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$", re.I | re.S)
_CLAUSE = re.compile(r"^\s*(?P<field>[\w.]+)\s*(?P<op>>=|<=|!=|=|>|<)\s*(?P<value>\S+)\s*$")
_LITERAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2})")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b}


def _instant(value: str) -> datetime:
    """A Salesforce time (…+0000) or SOQL literal (…Z / ±hh:mm) as an aware datetime."""
    return data.parse_iso(re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", value))


class _Query:
    """A parsed SOQL query (the subset the simulator serves)."""

    def __init__(self, text: str, fields_of: dict[str, tuple[str, ...]]):
        m = _SOQL.match(text or "")
        if not m:
            raise _malformed("unexpected token: the query is not SELECT ... FROM ...")
        obj = next((o for o in fields_of if o.lower() == m["object"].lower()), None)
        if obj is None:
            raise _malformed(f"sObject type '{m['object']}' is not supported.", "INVALID_TYPE")
        self.object: str = obj
        known = {f.lower(): f for f in fields_of[self.object]}
        self.fields = [self._field(f, known) for f in m["fields"].split(",")]
        self.where = [self._clause(c, known) for c in re.split(r"\s+AND\s+", m["where"], flags=re.I)] if m["where"] else []
        self.order = [self._field(f.split()[0], known) for f in m["order"].split(",")] if m["order"] else []
        self.limit = int(m["limit"]) if m["limit"] else None

    def _field(self, name: str, known: dict[str, str]) -> str:
        field = known.get(name.strip().lower())
        if field is None:
            raise _malformed(f"No such column '{name.strip()}' on entity '{self.object}'.", "INVALID_FIELD")
        return field

    def _clause(self, text: str, known: dict[str, str]) -> tuple[str, str, datetime]:
        m = _CLAUSE.match(text)
        if not m:
            raise _malformed(f"unexpected token: '{text.strip()}'")
        field, value = self._field(m["field"], known), m["value"]
        if value[:1] in "'\"":
            raise _malformed(f"value of filter criterion for field '{field}' must be of type dateTime and should "
                             "not be enclosed in quotes")
        if not _LITERAL.fullmatch(value):
            raise _malformed(f"line 1: invalid dateTime: {value}")
        return field, m["op"], _instant(value)

    def keeps(self, rec: dict) -> bool:
        return all(rec.get(f) is not None and _OPS[op](_instant(rec[f]), at) for f, op, at in self.where)


def _malformed(message: str, code: str = "MALFORMED_QUERY") -> BadRequest:
    return BadRequest(orjson.dumps([{"message": message, "errorCode": code}]).decode())


@register
class SalesforceSim(TokenIssuer, VendorSim):
    name = "salesforce"
    id_field = "Id"
    default_credentials = {"client_id": "3MVG9sim.consumer.key", "client_secret": "sim-consumer-secret"}
    default_rate_limit = 100_000  # no per-minute limit: the daily allocation below is the one that bites
    extra_knobs = {"daily_api_limit": 15_000}

    def __init__(self, sim):
        self.locators: dict[str, tuple[str, list[dict]]] = {}  # locator → (api version, the result rows)
        self.used = 0
        self._usage_lock = threading.Lock()
        super().__init__(sim)

    def generate(self) -> tuple[dict, ...]:
        return tuple(user_records(self.seed, self.size))

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        ts = data.mutation_time(rng, round_no)
        new = {**record, "SystemModstamp": sf_time(ts, rng.randrange(1000))}
        if rng.random() < 0.3:
            new["IsActive"] = not record["IsActive"]
        else:
            new["LastLoginDate"] = sf_time(ts - rng.randrange(10, 600), rng.randrange(1000))
        return new

    def reset(self) -> None:
        super().reset()
        with self._usage_lock:
            self.used = 0
            self.locators.clear()

    # ---- dialect
    def error(self, status: int, message: str) -> Response:
        if message.startswith("[{"):  # a route's own [{message, errorCode}] (_malformed)
            return Response(status, message.encode())
        code = {401: "INVALID_SESSION_ID", 403: "REQUEST_LIMIT_EXCEEDED", 404: "NOT_FOUND",
                405: "METHOD_NOT_ALLOWED"}.get(status, "UNKNOWN_EXCEPTION" if status >= 500 else "MALFORMED_QUERY")
        return json_response(status, [{"message": message, "errorCode": code}])

    def handle(self, req: Request) -> Response:
        resp = super().handle(req)
        if resp.header("Sforce-Limit-Info") is None:  # on every answer, errors included
            resp.headers.append(("Sforce-Limit-Info", f"api-usage={self.used}/{int(self.faults['daily_api_limit'])}"))
        return resp

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        return self.error(403, "TotalRequests Limit exceeded.")

    def authenticate(self, req: Request) -> Response | None:
        if self.bearer_claims(req) is None:
            return self.error(401, "Session expired or invalid")
        with self._usage_lock:  # every authenticated call counts against the org's allocation
            if self.used >= int(self.faults["daily_api_limit"]):
                return self.too_many_requests(0, 0.0)
            self.used += 1
        return None

    # ---- the org's token endpoint (My Domain)
    @route("POST", r"/services/oauth2/token", data_request=False)
    def token(self, req: Request) -> Response:
        form = req.form()
        if form.get("grant_type") != "client_credentials":
            return json_response(400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"})
        if basic_client(req) != (self.credentials["client_id"], self.credentials["client_secret"]):
            return json_response(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
        token = self.tokens.issue(int(self.sim.config.token_ttl), prefix="00D5e000000Sim!")  # org id ! session
        return json_response(200, {"access_token": token, "signature": secrets.token_urlsafe(32),
                                   "scope": "api", "instance_url": req.base_url, "token_type": "Bearer",
                                   "id": f"{req.base_url}/id/00D5e000000SimEAA/0055e000003SimAAA",
                                   "issued_at": str(int(time.time() * 1000))})

    # ---- SOQL
    def table(self, obj: str) -> list[dict]:
        """The rows of an sObject, in storage order."""
        with self.lock:
            return [self.records[rid] for rid in self.order] if obj == "User" else []

    @route("GET", r"/services/data/(?P<version>v\d+\.\d)/query/?")
    def query(self, req: Request, version: str) -> Response:
        q = _Query(req.arg("q") or "", OBJECTS)
        rows = [r for r in self.table(q.object) if q.keeps(r)]
        for field in reversed(q.order):  # stable sorts, last key first; one time layout sorts as text
            rows.sort(key=partial(_sort_key, field))
        rows = rows[: q.limit] if q.limit is not None else rows
        shaped = [_shape(r, q.object, q.fields, version) for r in rows]
        locator = "01g" + secrets.token_hex(6).upper()
        with self._usage_lock:
            self.locators[locator] = (version, shaped)
        return self._batch(req, locator, 0)

    @route("GET", r"/services/data/(?P<version>v\d+\.\d)/query/(?P<locator>01g\w+)-(?P<offset>\d+)")
    def more(self, req: Request, version: str, locator: str, offset: str) -> Response:
        if locator not in self.locators:
            raise _malformed("invalid query locator", "INVALID_QUERY_LOCATOR")
        return self._batch(req, locator, int(offset))

    def _batch(self, req: Request, locator: str, offset: int) -> Response:
        version, rows = self.locators[locator]
        options = req.headers.get("Sforce-Query-Options") or ""
        m = re.search(r"batchSize=(\d+)", options)
        batch = max(1, min(DEFAULT_BATCH, int(m.group(1)))) if m else DEFAULT_BATCH
        page = rows[offset:offset + batch]
        body: dict[str, Any] = {"totalSize": len(rows), "done": offset + batch >= len(rows), "records": page}
        if not body["done"]:  # relative to the host: here the vendor prefix stands in for it
            host_root = urlsplit(req.base_url).path
            body["nextRecordsUrl"] = f"{host_root}/services/data/{version}/query/{locator}-{offset + batch}"
        else:
            with self._usage_lock:
                self.locators.pop(locator, None)
        return Response(200, self.render(body))


def _sort_key(field: str, rec: dict) -> tuple[bool, str]:
    return rec.get(field) is None, str(rec.get(field) or "")


def _shape(rec: dict, obj: str, fields: list[str], version: str) -> dict:
    """A row as the REST API returns it: attributes first, then the selected fields, relationships nested."""
    out: dict[str, Any] = {"attributes": {"type": obj, "url": f"/services/data/{version}/sobjects/{obj}/{rec['Id']}"}}
    for field in fields:
        if "." in field:
            rel, sub = field.split(".", 1)
            nested = rec.get(rel)
            if nested is None:
                out[rel] = None
            else:
                out.setdefault(rel, {"attributes": {"type": nested["type"], "url": nested["url"]}})[sub] = nested[sub]
        else:
            out[field] = rec.get(field)
    return out
