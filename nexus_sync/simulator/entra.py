"""Microsoft Entra ID users via Microsoft Graph, as in ../shared/vendor-apis.md §6.

Served under ``/entra``:

* ``POST /{tenant}/oauth2/v2.0/token``: the Entra ID token endpoint (see _microsoft.py), scope
  ``https://graph.microsoft.com/.default``.
* ``GET /v1.0/users?$top=&$select=&$skiptoken=`` → ``{"@odata.context", "value": [...]}`` plus an absolute
  ``@odata.nextLink`` carrying an opaque ``$skiptoken`` while users remain. ``$top`` 1..999 (default 100);
  ``$skip`` and ``$filter`` → 400. Without ``$select`` only Graph's default property set is returned.
  A skiptoken older than the ``page_token_ttl_seconds`` knob → 400 ``Directory_ExpiredPageToken``.
* Over the rate limit → 429 ``TooManyRequests`` with ``Retry-After`` seconds.
"""
from __future__ import annotations

import base64
import random
import time

import factory

from nexus_sync.simulator import data
from nexus_sync.simulator._microsoft import MicrosoftSim
from nexus_sync.simulator.server import BadRequest, Request, Response, json_response, register, route

MAX_TOP, DEFAULT_TOP = 999, 100
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
    return out


@register
class EntraSim(MicrosoftSim):
    name = "entra"
    id_field = "id"
    scope = "https://graph.microsoft.com/.default"
    default_credentials = {"client_id": "sim-graph-client", "client_secret": "sim-graph-secret"}
    default_rate_limit = 2000
    extra_knobs = {"page_token_ttl_seconds": 0.0}  # 0 = skiptokens never expire
    error_codes = {**MicrosoftSim.error_codes, 400: "Request_BadRequest", 401: "InvalidAuthenticationToken",
                   503: "ServiceNotAvailable"}

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        # Graph users carry no modification time: a change shows only in the fields themselves
        new = dict(record)
        new.update(jobTitle=rng.choice([t for t in _TITLES if t != record["jobTitle"]]),
                   department=rng.choice([d for d in _DEPARTMENTS if d != record["department"]]))
        if rng.random() < 0.5:  # leaver/returner
            new["accountEnabled"] = not record["accountEnabled"]
        else:  # a name change
            new["surname"] = rng.choice(["Smith", "Garcia", "Nguyen", "Okafor", "Schmidt", "Rossi"]) + "-" + record["surname"]
            new["displayName"] = f"{record['givenName']} {new['surname']}"
        return new

    @route("GET", "/v1.0/users")
    def list_users(self, req: Request) -> Response:
        for unsupported in ("$skip", "$filter", "$orderby"):
            if req.arg(unsupported) is not None:
                raise BadRequest(f"'{unsupported}' is not supported by the simulated service.")
        top = req.int_arg("$top", DEFAULT_TOP, 1, MAX_TOP)
        select = [f for f in (req.arg("$select") or "").split(",") if f] or list(DEFAULT_SELECT)
        start = self._decode(req.arg("$skiptoken")) if req.arg("$skiptoken") else 0
        with self.lock:
            page = [{f: self.records[rid].get(f) for f in select} for rid in self.order[start:start + top]]
            more = start + len(page) < len(self.order)
        body = {"@odata.context": f"{req.base_url}/v1.0/$metadata#users({','.join(select)})", "value": page}
        if more:
            body["@odata.nextLink"] = self.next_link(req, **{"$top": top, "$select": req.arg("$select"),
                                                             "$skiptoken": self._encode(start + len(page))})
        return json_response(200, body)

    @staticmethod
    def _encode(position: int) -> str:
        return base64.urlsafe_b64encode(f"RFNwdA:{position}:{time.time():.3f}".encode()).decode().rstrip("=")

    def _decode(self, token: str) -> int:
        try:
            tag, position, issued = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split(":")
            position, issued = int(position), float(issued)
            if tag != "RFNwdA":
                raise ValueError(tag)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("Invalid $skiptoken.") from None
        ttl = float(self.faults.get("page_token_ttl_seconds") or 0)
        if ttl and time.time() - issued > ttl:
            raise BadRequest("Directory_ExpiredPageToken: the page token has expired; restart the listing.")
        return position
