"""Microsoft Defender for Cloud security assessments (posture findings) of one subscription (ARM): Entra ID
client credentials for management.azure.com, `nextLink` paging, api-version pinned (vendor-apis-2.md §26).

The list carries no severity: hooks.py joins each assessment with its assessmentMetadata (by assessment key)
into `properties.metadata`, the place `$expand=metadata` fills on a single GET. Every assessment lands,
Healthy and NotApplicable ones too, with that status: the change from Unhealthy to Healthy is how a fix shows
(dropping Healthy ones would leave a fixed finding open). There is no server-side filter and a status changes
without a new time the list could filter on: every sync lists the subscription in full (no cursor)."""
from __future__ import annotations

from typing import Any

from connectors.defendercloud_assessments import hooks
from connectors.machinery import Declaration, NextUrlPaging, OAuth2, Request, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="defendercloud_assessments", title="Microsoft Defender for Cloud security assessments", category="cloud",
    kind="vulnerability", stream="assessments",
    # base_url https://management.azure.com (sovereign clouds: their own ARM host)
    auth=OAuth2(token_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
                scope="https://management.azure.com/.default"),
    request=Request(path="/subscriptions/{subscription}/providers/Microsoft.Security/assessments",
                    params={"api-version": hooks.API_VERSION}),
    paging=NextUrlPaging(next_path="nextLink"),  # the link carries api-version and $skipToken; no page size
    # `name` is the assessment key (its type), unique per resource only; `id` is the ARM path of the resource's
    # assessment: unique, the vendor's own
    records="value", id_field="id",
    error_code="error.code", error_message="error.message",  # ARM's error envelope
    # ARM reads: a bucket of 250 refilled 25/s per subscription and principal, shared by every reader of the
    # principal; a third of the refill leaves room for the alerts and activity-log connectors
    rate_limit_per_minute=500, page_size=1000, max_page_size=1000,
    config_fields={"tenant": ..., "subscription": ...},  # Entra ID tenant of the token URL; subscription id
)

SEVERITY = {"low": "low", "medium": "medium", "high": "high"}
SEVERITY_FALLBACK = "medium"  # no metadata for the key, or an unknown severity (raw_data keeps the vendor's)
STATUS = ("Healthy", "Unhealthy", "NotApplicable")
_OWN = "/providers/microsoft.security/assessments/"


def _dict(value: Any) -> dict[str, Any]:
    if isinstance(value, list):  # a list where an object was expected: its first object
        value = next((v for v in value if isinstance(v, dict)), None)
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None or isinstance(value, (dict, list)) or str(value) == "" else str(value)


def resource_of(raw: dict[str, Any]) -> str:
    """The assessed resource: resourceDetails' Id (any case of the key), else the assessment id's prefix."""
    details = {k.lower(): v for k, v in _dict(_dict(raw.get("properties")).get("resourceDetails")).items()}
    found = _text(details.get("id")) or _text(details.get("resourceid")) or _text(details.get("azureresourceid"))
    if found:
        return found
    at = raw["id"].lower().find(_OWN)
    return raw["id"][:at] if at > 0 else raw["id"]


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    props = _dict(raw.get("properties"))
    meta, status = _dict(props.get("metadata")), _dict(props.get("status"))
    code = _text(status.get("code"))
    return {
        "uid": raw["id"],
        "cve": raw["name"],  # the assessment key: the failed control, as Security Hub's control findings
        "asset_uid": resource_of(raw),
        "title": _text(props.get("displayName")) or _text(meta.get("displayName")),
        "severity": SEVERITY.get((_text(meta.get("severity")) or "").lower(), SEVERITY_FALLBACK),
        "status": None if code is None else code if code in STATUS else "Unknown",
        "first_seen_time": utc_iso(_text(status.get("firstEvaluationDate"))),
        "last_seen_time": utc_iso(_text(status.get("statusChangeDate"))),
    }


CONNECTOR = declare(DECLARATION, normalize, hooks=hooks)
