"""Azure Activity Log (Azure Monitor), as in ../shared/vendor-apis-2.md §30.

Served under ``/azureactivity`` (ARM's dialect: nexus_sync/simulator/arm.py — subscription scope, api-version,
token-bucket 429 with ``Retry-After``, the Entra token endpoint):

* ``GET /subscriptions/{sub}/providers/microsoft.insights/eventtypes/management/values?api-version=2015-04-01
  &$filter=...&$select=...`` → ``{"value": [...], "nextLink"}``, 10 events a page, newest first; the
  ``nextLink`` repeats api-version, ``$filter`` and ``$select`` and adds ``$skiptoken``.
* ``$filter`` is required and takes only ``eventTimestamp ge '<ISO>' and eventTimestamp le '<ISO>'``,
  optionally ``and`` one of ``resourceGroupName`` / ``resourceUri`` / ``resourceProvider`` / ``correlationId``
  ``eq '<value>'``; anything else, or none, → 400 ``BadRequest``. A start older than the 90-day retention → 400.
* ``$select`` keeps only the named top-level fields (an unknown name → 400); without it every field comes,
  ``claims`` (the caller's token claims: PII) included.
* Events become queryable at their ``submissionTimestamp``, which lags ``eventTimestamp`` (seconds, sometimes
  many minutes): :meth:`AzureActivitySim.deliver_late` adds events submitted now for a time in the past.
* One operation emits several events (BeginRequest/EndRequest, Started → Succeeded) sharing correlationId and
  operationId; each has its own ``eventDataId``. ``eventName``, ``category``, ``operationName``, ``status``,
  ``subStatus``, ``resourceProviderName`` are ``{value, localizedValue}`` objects; times have 7 fractional digits.
* The log is immutable: a mutation round changes no event (the log only grows, by deliver_late).

The data's clock: generated times lie before DATA_EPOCH; served, they are shifted so DATA_EPOCH is the hour the
simulator loaded (the 90-day retention is counted from the wall clock, as the API does).
"""
from __future__ import annotations

import random
import re
import time
from datetime import datetime, timezone

from nexus_sync.simulator import BadRequest, Request, Response, data, register, route
from nexus_sync.simulator.arm import SUBSCRIPTION, ArmSim

PAGE = 10
RETENTION = 90 * data.DAY
FIELDS = {"authorization", "caller", "category", "claims", "correlationId", "description", "eventDataId", "eventName",
          "eventTimestamp", "httpRequest", "id", "level", "operationId", "operationName", "properties",
          "resourceGroupName", "resourceId", "resourceProviderName", "resourceType", "status", "subStatus",
          "submissionTimestamp", "subscriptionId", "tenantId"}  # EventData's top-level properties
_FILTER = re.compile(r"^\s*eventTimestamp\s+ge\s+'(?P<start>[^']+)'\s+and\s+eventTimestamp\s+le\s+'(?P<end>[^']+)'"
                     r"(?:\s+and\s+(?P<field>resourceGroupName|resourceUri|resourceProvider|correlationId)\s+eq\s+"
                     r"'(?P<value>[^']*)')?\s*$")
_BY = {"resourceGroupName": "resourceGroupName", "resourceUri": "resourceId", "correlationId": "correlationId"}
OPERATIONS = [("Microsoft.Compute", "virtualMachines", "write", "Create or Update Virtual Machine", "PUT"),
              ("Microsoft.Compute", "virtualMachines", "delete", "Delete Virtual Machine", "DELETE"),
              ("Microsoft.Network", "networkSecurityGroups", "write", "Create or Update Network Security Group",
               "PUT"),
              ("Microsoft.Storage", "storageAccounts", "listKeys/action", "List Storage Account Keys", "POST"),
              ("Microsoft.Authorization", "roleAssignments", "write", "Create role assignment", "PUT"),
              ("Microsoft.KeyVault", "vaults", "write", "Update Key Vault", "PUT")]
LEVELS = ["Informational"] * 8 + ["Warning", "Error", "Critical"]
TICKS_AT_EPOCH = 621_355_968_000_000_000  # .NET ticks (100 ns since 0001-01-01) at 1970-01-01


def lv(value: str, localized: str | None = None) -> dict:
    return {"value": value, "localizedValue": localized or value}


def ts7(ts: float) -> str:
    return f"{data.iso_z(int(ts))[:-1]}.{int(round((ts % 1) * 1e7)) % 10_000_000:07d}Z"


def guid(rng: random.Random) -> str:
    return "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}".format(
        rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(48))


def event(rng: random.Random, at: float, lag: float, i: int) -> dict:
    """One event at `at` (epoch s), queryable `lag` seconds later; its ARM id is added when served (ticks)."""
    rp, rtype, verb, label, method = OPERATIONS[int(rng.random() * len(OPERATIONS))]
    rg = f"rg-{int(rng.random() * 8)}"
    resource = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}/providers/{rp}/{rtype}/res-{i % 211:03d}"
    ok = rng.random() < 0.9
    caller = f"user{int(rng.random() * 500):03d}@contoso.com"
    return {
        "authorization": {"action": f"{rp}/{rtype}/{verb}", "scope": resource},
        "caller": caller, "channels": "Operation",
        "claims": {"aud": "https://management.core.windows.net/", "ipaddr": f"192.0.2.{1 + int(rng.random() * 254)}",
                   "name": caller.split("@")[0], "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": caller},
        "correlationId": guid(rng), "description": "", "eventDataId": guid(rng),
        "eventName": lv("EndRequest", "End request"), "category": lv("Administrative"),
        "httpRequest": {"clientRequestId": guid(rng), "clientIpAddress": f"192.0.2.{1 + int(rng.random() * 254)}",
                        "method": method},
        "level": LEVELS[int(rng.random() * len(LEVELS))] if ok else "Error",
        "resourceGroupName": rg, "resourceProviderName": lv(rp), "resourceId": resource,
        "resourceType": lv(f"{rp}/{rtype}"), "operationId": guid(rng),
        "operationName": lv(f"{rp}/{rtype}/{verb}", label),
        "properties": {"statusCode": "OK" if ok else "Forbidden", "serviceRequestId": guid(rng)},
        "status": lv("Succeeded" if ok else "Failed"), "subStatus": lv("OK" if ok else "Forbidden"),
        "eventTimestamp": ts7(at), "submissionTimestamp": ts7(at + lag),
        "subscriptionId": SUBSCRIPTION, "tenantId": "7d3c1a2b-0000-4000-8000-00000000cafe",
    }


@data.register_generator("azureactivity")
def generate(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "azureactivity", "records")
    out = []
    for i in range(size):
        at = rng.between(data.DATA_EPOCH - 60 * data.DAY, data.DATA_EPOCH - 3600) + rng.random()
        lag = 5 + rng.random() * 55 if rng.random() < 0.95 else 300 + rng.random() * 900  # a few come late
        out.append(event(rng, at, lag, i))
    return out


def _epoch(text: str) -> float:
    return data.parse_iso(text).timestamp()


def _shift(text: str, delta: int) -> str:
    whole = datetime.fromisoformat(text[:19]).replace(tzinfo=timezone.utc).timestamp()
    return data.iso_z(int(whole) + delta)[:-1] + text[19:]


def arm_id(ev: dict) -> str:
    ticks = TICKS_AT_EPOCH + round(_epoch(ev["eventTimestamp"]) * 1e7)
    return f"{ev['resourceId']}/events/{ev['eventDataId']}/ticks/{ticks}"


@register
class AzureActivitySim(ArmSim):
    name = "azureactivity"
    id_field = "eventDataId"
    api_versions = ("2015-04-01",)
    resource_type = "eventtypes/management/values"
    default_credentials = {"client_id": "sim-arm-client", "client_secret": "sim-arm-secret"}

    def generate(self) -> tuple[dict, ...]:
        """The dataset with DATA_EPOCH moved to the hour this simulator loads (see the module's docstring)."""
        delta = int(time.time()) // 3600 * 3600 - data.DATA_EPOCH
        out = []
        for ev in super().generate():
            moved = {**ev, "eventTimestamp": _shift(ev["eventTimestamp"], delta),
                     "submissionTimestamp": _shift(ev["submissionTimestamp"], delta)}
            out.append({"id": arm_id(moved), **moved})
        return tuple(out)

    def on_data_changed(self) -> None:
        # (event time, submission time, id) newest first: the listing's order
        self._times = sorted(((_epoch(r["eventTimestamp"]), _epoch(r["submissionTimestamp"]), rid)
                              for rid, r in self.records.items()), reverse=True)

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """An Activity Log event never changes."""
        return dict(record)

    def deliver_late(self, count: int, age_seconds: float) -> list[str]:
        """`count` events that happened `age_seconds` ago and are queryable only from now (submitted now)."""
        now = time.time()
        with self.lock:
            rng = data.vendor_rng(self.seed, self.name, "late", len(self.order))
            ids = []
            for i in range(count):
                ev = event(rng, now - age_seconds + i * 0.001, age_seconds, len(self.order))
                ev = {"id": arm_id(ev), **ev}
                self.records[ev["eventDataId"]] = ev
                self.position[ev["eventDataId"]] = len(self.order)
                self.order.append(ev["eventDataId"])
                ids.append(ev["eventDataId"])
            self.version += 1
            self.on_data_changed()
        return ids

    @staticmethod
    def _window(flt: str | None) -> tuple[float, float, str | None, str | None]:
        if not flt:
            raise BadRequest("The $filter query parameter is required: eventTimestamp ge '<start>' and "
                             "eventTimestamp le '<end>'.")
        m = _FILTER.match(flt)
        if not m:
            raise BadRequest(f"The $filter query parameter value is invalid: {flt[:120]!r}. Only eventTimestamp ge "
                             "and le, optionally with one of resourceGroupName, resourceUri, resourceProvider or "
                             "correlationId eq, are allowed.")
        try:
            start, end = _epoch(m["start"]), _epoch(m["end"])
        except ValueError:
            raise BadRequest("The eventTimestamp values in $filter must be ISO-8601 date-times.") from None
        if start < time.time() - RETENTION:
            raise BadRequest("The start time of the query cannot be more than 90 days in the past.")
        return start, end, m["field"], m["value"]

    @staticmethod
    def _selector(select: str | None):
        if not select:
            return lambda ev: ev
        names = [s.strip() for s in select.split(",") if s.strip()]
        unknown = [n for n in names if n not in FIELDS]
        if unknown:
            raise BadRequest(f"The $select query parameter names unknown properties: {', '.join(unknown)[:120]}.")
        return lambda ev: {k: ev[k] for k in names if k in ev}

    @route("GET", r"/subscriptions/(?P<sub>[^/]+)/providers/(?i:microsoft\.insights)/eventtypes/management/values")
    def list_events(self, req: Request, sub: str) -> Response:
        version = self.check_arm(req, sub)
        start, end, field, value = self._window(req.arg("$filter"))
        pick, now = self._selector(req.arg("$select")), time.time()
        with self.lock:
            rows = [self.records[rid] for at, submitted, rid in self._times
                    if start <= at <= end and submitted <= now]
        if field == "resourceProvider":
            rows = [ev for ev in rows if ev["resourceProviderName"]["value"].lower() == (value or "").lower()]
        elif field:
            rows = [ev for ev in rows if str(ev[_BY[field]]).lower() == (value or "").lower()]
        keep = {k: v for k, v in (("api-version", version), ("$filter", req.arg("$filter")),
                                  ("$select", req.arg("$select"))) if v}
        return self.page(req, [pick(ev) for ev in rows], PAGE, token_param="$skiptoken", **keep)
