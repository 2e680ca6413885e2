"""Microsoft Defender for Cloud security assessments (ARM), as in ../shared/vendor-apis-2.md §26.

Served under ``/defendercloud_assessments`` (ARM's dialect: nexus_sync/simulator/arm.py — subscription scope,
api-version, nextLink with ``$skipToken``, token-bucket 429 with ``Retry-After``, the Entra token endpoint):

* ``GET /subscriptions/{sub}/providers/Microsoft.Security/assessments?api-version=2021-06-01`` →
  ``{"value": [...], "nextLink"}``, 10 a page. An assessment's ``id`` is
  ``{resource id}/providers/Microsoft.Security/assessments/{key}``; ``name`` is the key (the assessment type,
  the same on every resource); ``properties.resourceDetails`` is ``{"Source", "Id"}``; ``properties.status.code``
  is Healthy / Unhealthy / NotApplicable. The list has **no severity** and ignores ``$expand`` (the spec
  declares ``$expand=metadata`` only on a single GET).
* ``GET /{resource id}/providers/Microsoft.Security/assessments/{key}?api-version=...[&$expand=metadata]`` →
  one assessment (``properties.metadata`` with ``$expand=metadata``).
* ``GET /providers/Microsoft.Security/assessmentMetadata?api-version=2021-06-01`` → the built-in assessment
  definitions (key → displayName, severity Low / Medium / High, categories...), tenant-level (no subscription),
  paged by nextLink, 10 a page.
"""
from __future__ import annotations

import random

from nexus_sync.simulator import BadRequest, Request, Response, data, json_response, register, route
from nexus_sync.simulator.arm import SUBSCRIPTION, ArmSim

PAGE = 10
# built-in assessment definitions: key, displayName, severity, category, resource provider/type
DEFINITIONS = [
    ("4fb67663-9ab9-475d-b026-8c544cced439", "Linux virtual machines should enable Azure Disk Encryption", "High",
     "Data", "Microsoft.Compute/virtualMachines"),
    ("83f577bd-a1b6-b7e1-0891-12ca19d1e6df", "Install endpoint protection solution on virtual machines", "High",
     "Compute", "Microsoft.Compute/virtualMachines"),
    ("d57a4221-a804-52ca-3dea-768284f06bb7", "Machines should have a vulnerability assessment solution", "Medium",
     "Compute", "Microsoft.Compute/virtualMachines"),
    ("bd20bd91-aaf1-7f14-b6e4-866de2f43146", "System updates should be installed on your machines", "High",
     "Compute", "Microsoft.Compute/virtualMachines"),
    ("22e18b64-4576-41e6-8972-0eb28c9af0c8", "Management ports of virtual machines should be protected with "
     "just-in-time network access control", "High", "Networking", "Microsoft.Compute/virtualMachines"),
    ("1c5de8e1-f68d-6a17-e0d2-ec259c42768c", "Storage account public access should be disallowed", "Medium",
     "Data", "Microsoft.Storage/storageAccounts"),
    ("ad5bbaeb-7632-5edf-f1c2-752075831ce8", "Secure transfer to storage accounts should be enabled", "High",
     "Data", "Microsoft.Storage/storageAccounts"),
    ("f0553104-cfdb-65e6-759c-002812e38500", "Key vaults should have soft delete enabled", "High", "Data",
     "Microsoft.KeyVault/vaults"),
    ("b0fdc63a-38e7-4bab-a7c4-2c2665abbaa9", "Azure Kubernetes Service clusters should have Defender profile "
     "enabled", "High", "Compute", "Microsoft.ContainerService/managedClusters"),
    ("94208a8b-16e8-4e5b-abbd-4e81c9d02bee", "MFA should be enabled on accounts with owner permissions on "
     "subscriptions", "High", "IdentityAndAccess", "Microsoft.Resources/subscriptions"),
    ("1ff0b4c9-ed56-4de6-be9c-d7ab39645926", "Diagnostic logs in Key Vault should be enabled", "Low", "Data",
     "Microsoft.KeyVault/vaults"),
    ("c3b6ae71-f1f0-31b4-e6c1-d5951285d03d", "Network Security Group rules for internet facing virtual machines "
     "should be tightened", "High", "Networking", "Microsoft.Compute/virtualMachines"),
]
STATUS = ["Unhealthy"] * 4 + ["Healthy"] * 5 + ["NotApplicable"]


def _resource(n: int, rtype: str) -> str:
    if rtype == "Microsoft.Resources/subscriptions":
        return f"/subscriptions/{SUBSCRIPTION}"
    return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-{n % 8}/providers/{rtype}/res-{n:05d}"


def metadata(key: str, title: str, severity: str, category: str) -> dict:
    return {"id": f"/providers/Microsoft.Security/assessmentMetadata/{key}", "name": key,
            "type": "Microsoft.Security/assessmentMetadata",
            "properties": {"displayName": title, "policyDefinitionId": f"/providers/Microsoft.Authorization/"
                           f"policyDefinitions/{key}", "description": f"{title}.", "remediationDescription":
                           "Follow the steps in the recommendation.", "categories": [category],
                           "severity": severity, "userImpact": "Low", "implementationEffort": "Low",
                           "threats": ["DataExfiltration"], "assessmentType": "BuiltIn"}}


@data.register_generator("defendercloud_assessments")
def generate(seed: int, size: int) -> list[dict]:
    rng = data.vendor_rng(seed, "defendercloud_assessments", "records")
    out = []
    for i in range(size):
        at = i % len(DEFINITIONS)
        if DEFINITIONS[at][4] == "Microsoft.Resources/subscriptions" and i >= len(DEFINITIONS):
            at -= 1  # the subscription is assessed once
        key, title, _, _, rtype = DEFINITIONS[at]
        resource = _resource(i, rtype)
        first = rng.between(data.DATA_EPOCH - 300 * data.DAY, data.DATA_EPOCH - 30 * data.DAY)
        changed = rng.between(first, data.DATA_EPOCH - 3600)
        code = rng.pick(STATUS)
        status: dict = {"code": code, "firstEvaluationDate": f"{data.iso_z(first)[:-1]}.{rng.below(10**7):07d}Z",
                        "statusChangeDate": f"{data.iso_z(changed)[:-1]}.{rng.below(10**7):07d}Z"}
        if code == "NotApplicable":
            status.update(cause="OffByPolicy", description="The resource is exempt by policy")
        out.append({
            "id": f"{resource}/providers/Microsoft.Security/assessments/{key}", "name": key,
            "type": "Microsoft.Security/assessments",
            "properties": {"resourceDetails": {"Source": "Azure", "Id": resource}, "displayName": title,
                           "status": status, "additionalData": {},
                           "links": {"azurePortalUri": f"https://portal.azure.com/#blade/recommendation/{key}"}},
        })
    return out


@register
class DefenderCloudAssessmentsSim(ArmSim):
    name = "defendercloud_assessments"
    id_field = "id"
    api_versions = ("2019-01-01-preview", "2020-01-01", "2021-06-01")
    resource_type = "assessments"
    default_credentials = {"client_id": "sim-arm-client", "client_secret": "sim-arm-secret"}
    METADATA = [metadata(k, t, s, c) for k, t, s, c, _ in DEFINITIONS]

    def mutate_record(self, record: dict, rng: random.Random, round_no: int) -> dict:
        """A resource is fixed or breaks: its status flips, statusChangeDate moves."""
        props = dict(record["properties"])
        code = "Healthy" if props["status"]["code"] == "Unhealthy" else "Unhealthy"
        when = data.mutation_time(rng, round_no)
        props["status"] = {"code": code, "firstEvaluationDate": props["status"]["firstEvaluationDate"],
                           "statusChangeDate": f"{data.iso_z(when)[:-1]}.{rng.randrange(10**7):07d}Z"}
        return {**record, "properties": props}

    @route("GET", r"/subscriptions/(?P<sub>[^/]+)/providers/(?i:Microsoft\.Security)/assessments")
    def list_assessments(self, req: Request, sub: str) -> Response:
        version = self.check_arm(req, sub)
        with self.lock:
            items = [self.records[rid] for rid in self.order]
        return self.page(req, items, PAGE, **{"api-version": version})

    @route("GET", r"/providers/(?i:Microsoft\.Security)/assessmentMetadata")
    def list_metadata(self, req: Request) -> Response:
        version = self.check_arm(req, SUBSCRIPTION)  # tenant-level: no subscription in the path
        return self.page(req, self.METADATA, PAGE, **{"api-version": version})

    @route("GET", r"(?P<resource>/subscriptions/[^?]+)/providers/(?i:Microsoft\.Security)/assessments/(?P<key>[^/]+)")
    def get_assessment(self, req: Request, resource: str, key: str) -> Response:
        self.check_arm(req, resource.split("/")[2])
        with self.lock:
            found = self.records.get(f"{resource}/providers/Microsoft.Security/assessments/{key}")
        if found is None:
            raise BadRequest(f"The assessment '{key}' was not found on '{resource}'.", status=404)
        if (req.arg("$expand") or "").lower() == "metadata":
            meta = next((m["properties"] for m in self.METADATA if m["name"] == key), None)
            found = {**found, "properties": {**found["properties"], "metadata": meta}}
        return json_response(200, found)
