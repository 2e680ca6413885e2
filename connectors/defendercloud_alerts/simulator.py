"""Microsoft Defender for Cloud alerts (ARM), as in ../shared/vendor-apis-2.md §26.

Served under ``/defendercloud_alerts`` (ARM's dialect: nexus_sync/simulator/arm.py — subscription scope,
api-version, nextLink with ``$skipToken``, token-bucket 429 with ``Retry-After``, the Entra token endpoint):

* ``GET /subscriptions/{sub}/providers/Microsoft.Security/alerts?api-version=2022-01-01`` (the provider
  namespace is case-insensitive, as in ARM) → ``{"value": [...], "nextLink"}``, 10 alerts a page (ARM picks
  the page length; the list takes no ``$top`` and no ``$filter``: a filter parameter is ignored, as ARM does
  for parameters an operation does not declare).
* ``GET /subscriptions/{sub}/providers/Microsoft.Security/locations/{ascLocation}/alerts`` → that location's.
* An alert's ``id`` is its ARM path and holds ``/locations/{ascLocation}/``; ``name`` is the alert's own id
  (``<reverse ticks>_<guid>``). Times have 7 fractional digits. ``properties.status`` is Active /
  InProgress / Resolved / Dismissed; ``entities`` are polymorphic (``type``: host, account, ip, process...).
"""
from __future__ import annotations

import random

from nexus_sync.simulator import Request, Response, data, register, route
from nexus_sync.simulator.arm import SUBSCRIPTION, ArmSim

PAGE = 10
LOCATIONS = ("westeurope", "eastus", "centralus")
ALERTS = [("VM_SuspiciousScreenSaver", "Suspicious Screensaver process executed", "Medium", "Execution", "T1059"),
          ("VM_AmBroadArrayOfFiles", "Antimalware broad files exclusion in your virtual machine", "Medium",
           "DefenseEvasion", "T1562"),
          ("SQL.DB_BruteForce", "A possible brute force attack on your SQL Server", "High", "PreAttack", "T1110"),
          ("Storage.Blob_AnonymousAccessAnomaly", "Unusual unauthenticated access to a storage container", "Low",
           "Exfiltration", "T1530"),
          ("K8S_PrivilegedContainer", "Privileged container detected", "Low", "PrivilegeEscalation", "T1611"),
          ("ARM_AnomalousOperation.MicroBurst", "MicroBurst toolkit used to execute code in your subscription",
           "High", "Execution", "T1059"),
          ("VM_ThreatIntelSuspectLogon", "A logon from a malicious IP has been detected", "Informational",
           "InitialAccess", "T1078")]
STATUS = ["Active"] * 6 + ["InProgress", "Resolved", "Dismissed"]


def ts7(ts: float) -> str:
    """ARM/Defender times: 2024-06-01T13:51:45.0045913Z."""
    return f"{data.iso_z(int(ts))[:-1]}.{int((ts % 1) * 1e7):07d}Z"


def guid(rng: random.Random) -> str:
    return "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}".format(
        rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(48))


@data.register_generator("defendercloud_alerts")
def generate(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "defendercloud_alerts", "records")
    out = []
    for i in range(size):
        alert_type, title, severity, intent, technique = rng.pick(ALERTS)
        start = rng.between(data.DATA_EPOCH - 60 * data.DAY, data.DATA_EPOCH - 3600) + rng.random()
        loc, rg, vm = rng.pick(LOCATIONS), f"rg-{rng.below(8)}", f"vm-{i % 97:02d}"
        name = f"{2518_000_000_000_000_000 + rng.getrandbits(50)}_{guid(rng)}"
        resource = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{vm}"
        out.append({
            "id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}/providers/Microsoft.Security/locations/{loc}"
                  f"/alerts/{name}",
            "name": name, "type": "Microsoft.Security/Locations/alerts",
            "properties": {
                "alertType": alert_type, "systemAlertId": name, "productComponentName": "Servers",
                "alertDisplayName": title, "description": f"{title} on {vm}.", "severity": severity,
                "intent": intent, "startTimeUtc": ts7(start), "endTimeUtc": ts7(start + 60),
                "resourceIdentifiers": [{"type": "AzureResource", "azureResourceId": resource},
                                        {"type": "LogAnalytics", "workspaceId": guid(rng),
                                         "workspaceSubscriptionId": SUBSCRIPTION, "workspaceResourceGroup": rg,
                                         "agentId": guid(rng)}],
                "remediationSteps": ["Review the process and its parent."], "vendorName": "Microsoft",
                "status": rng.pick(STATUS), "extendedLinks": [], "alertUri": f"https://portal.azure.com/#alert/{name}",
                "timeGeneratedUtc": ts7(start + 3 + rng.random()),
                "productName": "Azure Security Center", "processingEndTimeUtc": ts7(start + 30 + rng.random()),
                "entities": [{"$id": "4", "hostName": vm, "azureID": resource, "type": "host"},
                             {"$id": "5", "name": f"user{rng.below(500):03d}", "upnSuffix": "contoso.com",
                              "type": "account"},
                             {"$id": "6", "address": f"198.51.100.{1 + rng.below(254)}", "type": "ip"}],
                "isIncident": False, "correlationKey": guid(rng), "extendedProperties": {"resourceType": "Virtual Machine"},
                "compromisedEntity": vm, "techniques": [technique], "subTechniques": [], "supportingEvidence": None,
            },
        })
    return out


@register
class DefenderCloudAlertsSim(ArmSim):
    name = "defendercloud_alerts"
    id_field = "name"
    api_versions = ("2019-01-01", "2020-01-01", "2021-01-01", "2022-01-01")
    resource_type = "alerts"
    default_credentials = {"client_id": "sim-arm-client", "client_secret": "sim-arm-secret"}

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """An alert's state changes (dismissed, resolved, taken in progress); its times stay."""
        props = dict(record["properties"])
        props["status"] = rng.choice([s for s in ("InProgress", "Resolved", "Dismissed") if s != props["status"]])
        return {**record, "properties": props}

    def _alerts(self, req: Request, sub: str, location: str | None) -> Response:
        version = self.check_arm(req, sub)
        with self.lock:
            items = [self.records[rid] for rid in self.order]
        if location is not None:
            items = [a for a in items if f"/locations/{location.lower()}/" in a["id"].lower()]
        return self.page(req, items, PAGE, **{"api-version": version})

    @route("GET", r"/subscriptions/(?P<sub>[^/]+)/providers/(?i:Microsoft\.Security)/alerts")
    def list_alerts(self, req: Request, sub: str) -> Response:
        return self._alerts(req, sub, None)

    @route("GET", r"/subscriptions/(?P<sub>[^/]+)/providers/(?i:Microsoft\.Security)/locations/(?P<loc>[^/]+)/alerts")
    def list_location_alerts(self, req: Request, sub: str, loc: str) -> Response:
        return self._alerts(req, sub, loc)
