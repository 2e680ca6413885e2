"""ServiceNow Table API over the CMDB, as in ../shared/vendor-apis.md §14.

Served under ``/servicenow``:

* ``GET /api/now/table/{table}`` with ``sysparm_limit`` (default 10000), ``sysparm_offset``,
  ``sysparm_query`` (encoded query: ``field>value``, ``field>=value``, ``field=value``, ``ORDERBY``/
  ``ORDERBYDESC`` clauses joined by ``^``) → ``{"result": [...]}``. A table answers its own class and its
  subclasses (``cmdb_ci`` every CI, ``cmdb_ci_server`` the Linux and Windows servers, ...).
* Every list has ``X-Total-Count`` and a ``Link`` header with ``rel="first"``, ``"prev"``, ``"next"``,
  ``"last"`` (absolute URLs carrying every parameter and the new ``sysparm_offset``).
* Values are strings; times ``YYYY-MM-DD hh:mm:ss`` UTC. HTTP Basic auth, else 401.
* Errors ``{"error": {"message", "detail"}, "status": "failure"}``; over the limit → 429 with
  ``X-RateLimit-Limit``, ``X-RateLimit-Reset`` (Unix time) and ``Retry-After``.
"""
from __future__ import annotations

import base64
import math
import random
import time
from urllib.parse import urlencode

from nexus_sync.simulator import BadRequest, Request, Response, VendorSim, data, json_response, register, route

# class → its ancestors (a table lists its own class and every descendant)
CLASSES = {
    "cmdb_ci": [], "cmdb_ci_hardware": ["cmdb_ci"], "cmdb_ci_computer": ["cmdb_ci_hardware", "cmdb_ci"],
    "cmdb_ci_server": ["cmdb_ci_computer", "cmdb_ci_hardware", "cmdb_ci"],
    "cmdb_ci_linux_server": ["cmdb_ci_server", "cmdb_ci_computer", "cmdb_ci_hardware", "cmdb_ci"],
    "cmdb_ci_win_server": ["cmdb_ci_server", "cmdb_ci_computer", "cmdb_ci_hardware", "cmdb_ci"],
    "cmdb_ci_netgear": ["cmdb_ci_hardware", "cmdb_ci"],
}
_KINDS = [("cmdb_ci_linux_server", "Linux Red Hat", ["8.9", "9.3"], "srv"),
          ("cmdb_ci_win_server", "Windows 2019 Standard", ["10.0.17763"], "win"),
          ("cmdb_ci_computer", "Windows 11 Enterprise", ["10.0.22631"], "lt"),
          ("cmdb_ci_netgear", "", [""], "sw")]


def sn_time(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


@data.register_generator("servicenow")
def generate_servicenow(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "servicenow", "records")
    out = []
    for i in range(size):
        cls, os_name, versions, prefix = rng.pick(_KINDS)
        created = rng.between(data.DATA_START, data.DATA_EPOCH - 30 * data.DAY)
        b = rng.getrandbits(24)
        name = f"{prefix}-{rng.pick(['erp', 'web', 'db', 'hr', 'fin'])}-{i:04d}"
        out.append({"sys_id": f"{rng.getrandbits(128):032x}", "name": name,
                    "fqdn": f"{name}.corp.example.com" if prefix != "sw" else "",
                    "ip_address": f"10.30.{b >> 8 & 255}.{1 + (b & 255) % 254}",
                    "mac_address": f"00:50:56:{b >> 16:02x}:{b >> 8 & 255:02x}:{b & 255:02x}",
                    "os": os_name, "os_version": rng.pick(versions), "serial_number": f"VMW-{rng.below(10**6):06d}",
                    "sys_class_name": cls, "install_status": rng.pick(["1", "1", "1", "6", "7"]),
                    "operational_status": "1", "sys_created_on": sn_time(created),
                    "sys_updated_on": sn_time(rng.between(created, data.DATA_EPOCH - 60)), "sys_mod_count": "0"})
    return out


@register
class ServiceNowSim(VendorSim):
    name = "servicenow"
    id_field = "sys_id"
    default_credentials = {"username": "sim-sn-user", "password": "sim-sn-pass"}
    default_rate_limit = 600

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """A discovery run: new IP, patched OS or a retirement; sys_updated_on and sys_mod_count move on."""
        new = dict(record)
        change = rng.choice(["ip", "os", "status"])
        if change == "ip":
            new["ip_address"] = f"10.31.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        elif change == "os":
            new["os_version"] = f"{record['os_version'] or '1'}.{round_no}"
        else:
            new["install_status"] = "7" if record["install_status"] != "7" else "1"
        new["sys_updated_on"] = sn_time(data.mutation_time(rng, round_no))
        new["sys_mod_count"] = str(int(record["sys_mod_count"]) + 1)
        return new

    # ---- dialect -------------------------------------------------------------------

    def error(self, status: int, message: str) -> Response:
        return json_response(status, {"error": {"message": message, "detail": None}, "status": "failure"})

    def too_many_requests(self, limit: int, reset_epoch: float) -> Response:
        resp = self.error(429, "Rate limit exceeded for this user")
        resp.headers += [("X-RateLimit-Limit", str(limit)), ("X-RateLimit-Reset", str(math.ceil(reset_epoch))),
                         ("Retry-After", str(max(1, math.ceil(reset_epoch - time.time()))))]
        return resp

    def authenticate(self, req: Request) -> Response | None:
        scheme, _, b64 = (req.headers.get("Authorization") or "").partition(" ")
        try:
            user, _, password = base64.b64decode(b64).decode().partition(":")
        except ValueError:
            user = password = ""
        if scheme == "Basic" and (user, password) == (self.credentials["username"], self.credentials["password"]):
            return None
        return json_response(401, {"error": {"message": "User Not Authenticated",
                                              "detail": "Required to provide Auth information"}, "status": "failure"})

    # ---- table -----------------------------------------------------------------------------

    @route("GET", "/api/now/table/(?P<table>[a-z0-9_]+)")
    def table(self, req: Request, table: str) -> Response:
        if table not in CLASSES:
            raise BadRequest(f"Invalid table {table}")
        limit = req.int_arg("sysparm_limit", 10000, lo=1)
        offset = req.int_arg("sysparm_offset", 0, lo=0)
        filters, order = _query(req.arg("sysparm_query", "") or "")
        with self.lock:
            rows = [r for r in (self.records[i] for i in self.order)
                    if (r["sys_class_name"] == table or table in CLASSES[r["sys_class_name"]])
                    and all(_match(r, *f) for f in filters)]
        for field, desc in reversed(order):
            rows.sort(key=lambda r: r.get(field, ""), reverse=desc)
        total = len(rows)
        resp = json_response(200, {"result": rows[offset:offset + limit]}, [("X-Total-Count", str(total))])
        args = {k: v[0] for k, v in req.query.items()}

        def link(off: int) -> str:
            return f'<{req.base_url}/api/now/table/{table}?{urlencode({**args, "sysparm_offset": off})}>'

        last = max(0, (total - 1) // limit * limit)
        rels = [f'{link(0)};rel="first"']
        if offset > 0:
            rels.append(f'{link(max(0, offset - limit))};rel="prev"')
        if offset + limit < total:
            rels.append(f'{link(offset + limit)};rel="next"')
        rels.append(f'{link(last)};rel="last"')
        resp.headers.append(("Link", ",".join(rels)))
        return resp


def _query(text: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, bool]]]:
    filters, order = [], []
    for part in filter(None, text.split("^")):
        if part.startswith("ORDERBYDESC"):
            order.append((part[11:], True))
        elif part.startswith("ORDERBY"):
            order.append((part[7:], False))
        else:
            for op in (">=", "<=", ">", "<", "="):
                field, sep, value = part.partition(op)
                if sep and field.isidentifier():
                    filters.append((field, op, value))
                    break
            else:
                raise BadRequest(f"unsupported encoded query term {part!r}")
    return filters, order


def _match(rec: dict, field: str, op: str, value: str) -> bool:
    have = rec.get(field, "")
    return {">": have > value, ">=": have >= value, "<": have < value, "<=": have <= value, "=": have == value}[op]
