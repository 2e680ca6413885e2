"""Microsoft Defender for Cloud security alerts of one subscription (ARM): Entra ID client credentials for
management.azure.com, `nextLink` paging, api-version pinned (vendor-apis-2.md §26).

The alerts list has no server-side filter (`Alerts_List` takes only api-version and the subscription), and an
alert changes state (Active → Resolved / Dismissed) without a new time: every sync lists the subscription's
alerts in full, and the pipeline's dedup makes the unchanged ones UNCHANGED. There is no cursor."""
from __future__ import annotations

from typing import Any

from connectors.machinery import Declaration, NextUrlPaging, OAuth2, Request, declare
from nexus_sync.models import utc_iso

API_VERSION = "2022-01-01"

DECLARATION = Declaration(
    type="defendercloud_alerts", title="Microsoft Defender for Cloud security alerts", category="cloud",
    kind="event", stream="alerts",
    # base_url https://management.azure.com (sovereign clouds: their own ARM host)
    auth=OAuth2(token_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
                scope="https://management.azure.com/.default"),
    request=Request(path="/subscriptions/{subscription}/providers/Microsoft.Security/alerts",
                    params={"api-version": API_VERSION}),
    paging=NextUrlPaging(next_path="nextLink"),  # the link carries api-version and $skipToken; no page size
    records="value", id_field="name",  # `id` is the ARM path (it holds the location); `name` is the alert's own id
    error_code="error.code", error_message="error.message",  # ARM's error envelope
    # ARM reads: a bucket of 250 refilled 25/s per subscription and principal, shared by every reader of the
    # principal; a third of the refill leaves room for the assessments and activity-log connectors
    rate_limit_per_minute=500, page_size=1000, max_page_size=1000,
    config_fields={"tenant": ..., "subscription": ...},  # Entra ID tenant of the token URL; subscription id
)

SEVERITY = {"informational": "info", "low": "low", "medium": "medium", "high": "high"}
SEVERITY_FALLBACK = "medium"  # an unknown or missing severity (raw_data keeps the vendor's)
STATUS = ("Active", "InProgress", "Resolved", "Dismissed")


def scalar(value: Any) -> Any:
    """One value where the vendor may send a list: its first element (None for an empty list)."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def text(value: Any) -> str | None:
    value = scalar(value)
    return None if value is None or isinstance(value, (dict, list)) or str(value) == "" else str(value)


def account(entities: Any) -> str | None:
    """The first account entity of the alert (entities are polymorphic by `type`): name@upnSuffix, or name."""
    for entity in entities if isinstance(entities, list) else []:
        if isinstance(entity, dict) and str(entity.get("type", "")).lower() == "account":
            name, suffix = text(entity.get("name")), text(entity.get("upnSuffix"))
            if name:
                return f"{name}@{suffix}" if suffix else name
    return None


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = raw["properties"] if isinstance(raw.get("properties"), dict) else {}
    status = text(props.get("status"))
    when = (props.get("timeGeneratedUtc") or props.get("startTimeUtc") or props.get("processingEndTimeUtc")
            or props["timeGeneratedUtc"])  # KeyError: an alert without any time is no event
    return {
        "uid": raw["name"],
        "title": text(props.get("alertDisplayName")) or text(props.get("alertType")) or raw["name"],
        "severity": SEVERITY.get((text(props.get("severity")) or "").lower(), SEVERITY_FALLBACK),
        "time": utc_iso(scalar(when)),
        "host": text(props.get("compromisedEntity")),
        "user": account(props.get("entities")),
        "status": None if status is None else status if status in STATUS else "Unknown",
    }


CONNECTOR = declare(DECLARATION, normalize)
