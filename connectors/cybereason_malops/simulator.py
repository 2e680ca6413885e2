"""Cybereason Malops, as in ../shared/vendor-apis-2.md §22, served under ``/cybereason_malops`` (the tenant's
``https://<tenant>.cybereason.net``).

The fact sheet names the endpoint but gives no Malop record: the record shape comes from the SDK the facts cite,
forensic-security/cybereason — ``src/cybereason/malops.py`` (``get_malops``: ``POST detection/inbox`` with
``{"startTime", "endTime"}`` in epoch ms, the end inclusive, reading ``["malops"]``) and
``tests/schemas/malops.yaml`` (``MalopInboxModel``, recorded against a live tenant: ``@class``, ``guid`` of 16
``[A-Za-z0-9_-]``, ``displayName``, ``creationTime``/``lastUpdateTime``/``malopCloseTime`` epoch ms, ``severity``
and ``malopSeverity`` Low/Medium/High/'', ``priority`` LOW/HIGH/null, ``status`` Active/Remediated/Closed/Excluded,
``malopDetectionType`` from the schema's enum, ``detectionEngines``, ``machines`` of ``MachineInboxModel``,
``users`` of ``UserInboxModel``, ``labels``, ``closed``, ``closerName``, ``escalated``, ``edr``…).

* The console session (login form → JSESSIONID, a 302 to the login page when it is over, logout):
  nexus_sync/simulator/cybereason.py, shared with the sensors.
* ``POST /rest/detection/inbox`` ``{"startTime", "endTime"}`` (integers, epoch ms, start ≤ end; else 400
  ``{"status": "FAILURE", "message"}``) → ``{"malops": [...]}``: every Malop whose ``lastUpdateTime`` lies in the
  window, both ends included, no paging. That the window applies to the last update (so an updated Malop is
  listed again) is what incremental use needs and is unconfirmed on a tenant.
* Rate limits are unconfirmed: an overload answers a bare 429.
"""
from __future__ import annotations

import random
from typing import Any

from nexus_sync.simulator import BadRequest, Request, Response, data, json_response, register, route
from nexus_sync.simulator.cybereason import CybereasonSessionSim

GUID = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
# (root cause, element type, detection type, engine): from the schema's enums
CAUSES = [
    ("mimikatz.exe", "Process", "CREDENTIAL_THEFT", "EDR"),
    ("powershell.exe", "Process", "MALICIOUS_PROCESS", "EDR"),
    ("invoice_0412.docm", "File", "KNOWN_MALWARE", "AntiVirus"),
    ("rundll32.exe", "Process", "PROCESS_INJECTION", "EDR"),
    ("185.220.101.4", "IpAddress", "CNC", "EDR"),
    ("locky.exe", "File", "RANSOMWARE", "Ransomware"),
    ("psexesvc.exe", "Process", "LATERAL_MOVEMENT", "RulesEngine"),
]
SEVERITIES = ["High", "High", "Medium", "Medium", "Low", ""]
STATUSES = ["Active"] * 5 + ["Remediated", "Closed", "Excluded"]
MALOP_STATUSES = ["UNREAD", "TODO", "OPEN", "REOPEN", "RESOLVED", "FP", "CLOSED"]  # the status schema's enum
OS = ["WINDOWS", "WINDOWS", "WINDOWS", "LINUX", "OSX"]


def guid(rng: Any) -> str:
    return "".join(GUID[rng.below(len(GUID))] for _ in range(16))


def _machine(rng: Any, at: int) -> dict:
    return {"@class": ".MachineInboxModel", "guid": guid(rng), "displayName": f"ws{rng.below(5000):04d}",
            "osType": rng.pick(OS), "connected": rng.random() < 0.8, "isolated": rng.random() < 0.05,
            "lastConnected": at, "empty": False}


def _user(rng: Any) -> dict:
    return {"admin": rng.random() < 0.1, "displayName": f"corp\\user{rng.below(900):03d}",
            "domainUser": True, "guid": guid(rng), "localSystem": False}


@data.register_generator("cybereason_malops")
def generate_cybereason_malops(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "cybereason_malops", "records")
    out = []
    for _ in range(size):
        cause, element, kind, engine = rng.pick(CAUSES)
        created = rng.between(data.DATA_EPOCH - 90 * data.DAY, data.DATA_EPOCH - 2 * data.DAY)
        updated = min(data.DATA_EPOCH - 1, created + rng.below(5 * data.DAY))
        status, sev = rng.pick(STATUSES), rng.pick(SEVERITIES)
        closed = status in ("Closed", "Remediated")
        out.append({
            "@class": ".MalopInboxModel", "guid": guid(rng), "displayName": cause, "primaryRootCauseName": cause,
            "rootCauseElementType": element, "rootCauseElementNamesCount": 1,
            "rootCauseElementHashes": f"{rng.getrandbits(160):040x}" if element == "File" else "",
            "malopDetectionType": kind, "malopType": kind, "detectionTypes": [kind], "detectionEngines": [engine],
            "decisionStatuses": ["Detected"] if engine != "EDR" else [], "edr": engine == "EDR", "empty": False,
            "escalated": rng.random() < 0.1, "closed": closed,
            "closerName": "soc.analyst@corp.example" if closed else None, "containers": [],
            "creationTime": created * 1000, "lastUpdateTime": updated * 1000,
            "malopCloseTime": updated * 1000 if closed else None,
            "group": "00000000-0000-0000-0000-000000000000", "iconBase64": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB",
            "labels": ["Investigating"] if rng.random() < 0.2 else [],
            "machines": [_machine(rng, updated * 1000) for _ in range(1 + rng.below(3))],
            "users": [_user(rng) for _ in range(rng.below(3))],
            "malopPriority": "HIGH" if sev == "High" else "LOW" if sev else "",
            "priority": "HIGH" if sev == "High" else "LOW" if sev else None, "malopSeverity": sev, "severity": sev,
            "malopStatus": rng.pick(MALOP_STATUSES), "status": status})
    return out


@register
class CybereasonMalopsSim(CybereasonSessionSim):
    name = "cybereason_malops"
    id_field = "guid"

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """An analyst moved it on: a new last update, and it is remediated, closed or escalated."""
        at = data.mutation_time(rng, round_no) * 1000
        new = {**record, "lastUpdateTime": at}
        if rng.random() < 0.5:
            new.update(status=rng.choice(["Remediated", "Closed"]), closed=True, malopCloseTime=at,
                       closerName="soc.analyst@corp.example", malopStatus="CLOSED")
        else:
            new.update(escalated=True, severity="High", malopSeverity="High", priority="HIGH", malopPriority="HIGH")
        return new

    @route("POST", "/rest/detection/inbox")
    def inbox(self, req: Request) -> Response:
        body = req.json()
        start, end = (body.get(k) if isinstance(body, dict) else None for k in ("startTime", "endTime"))
        if not (isinstance(start, int) and isinstance(end, int) and not isinstance(start, bool)
                and not isinstance(end, bool) and 0 <= start <= end):
            raise BadRequest("startTime and endTime must be epoch milliseconds, startTime <= endTime")
        with self.lock:
            hits = [r for r in (self.records[rid] for rid in self.order) if start <= r["lastUpdateTime"] <= end]
        return json_response(200, {"malops": hits})
