"""Azure Activity Log (control-plane audit events) of one subscription: Entra ID client credentials for
management.azure.com, a required `$filter` window on eventTimestamp, `nextLink` paging (vendor-apis-2.md §30;
the window in connectors/azureactivity/hooks.py)."""
from __future__ import annotations

from typing import Any

from connectors.azureactivity import hooks
from connectors.machinery import Declaration, HookPaging, OAuth2, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="azureactivity", title="Azure Activity Log events", category="cloud", kind="event", stream="activity",
    # base_url https://management.azure.com (sovereign clouds: their own ARM host)
    auth=OAuth2(token_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
                scope="https://management.azure.com/.default"),
    paging=HookPaging(style="$filter eventTimestamp window + nextLink"),
    records="value", id_field="eventDataId",  # not operationId: one operation emits several events
    cursor_field="eventTimestamp",  # 7 fractional digits; the cursor keeps 6 (the window starts earlier anyway)
    error_code="error.code", error_message="error.message",  # ARM's error envelope
    # ARM reads: a bucket of 250 refilled 25/s per subscription and principal, shared by every reader of the
    # principal; a third of the refill leaves room for the Defender for Cloud connectors
    rate_limit_per_minute=500, page_size=1000, max_page_size=1000,
    config_fields={"tenant": ...,  # Entra ID tenant of the token URL
                   "subscription": ...,  # the subscription id whose log is read
                   "lookback_days": hooks.RETENTION_DAYS,  # a first sync reads this far back (at most 90)
                   "overlap_minutes": hooks.OVERLAP_MINUTES},  # later windows start this long before the cursor
)

LEVEL = {"critical": "critical", "error": "high", "warning": "medium", "informational": "info", "verbose": "info"}
LEVEL_FALLBACK = "medium"  # an unknown or missing level (raw_data keeps the vendor's)


def value_of(field: Any) -> str | None:
    """A `{value, localizedValue}` object's value (a plain string as itself; a list: its first element)."""
    if isinstance(field, list):
        field = field[0] if field else None
    if isinstance(field, dict):
        field = field.get("value") or field.get("localizedValue")
    return None if field is None or isinstance(field, (dict, list)) or str(field) == "" else str(field)


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    operation = value_of(raw.get("operationName"))
    return {
        "uid": raw["eventDataId"],
        "title": operation or value_of(raw.get("eventName")) or value_of(raw.get("category")) or "activity log event",
        "severity": LEVEL.get((value_of(raw.get("level")) or "").lower(), LEVEL_FALLBACK),
        "time": utc_iso(raw["eventTimestamp"]),
        "host": None,  # a control-plane event names a resource (raw resourceId), not a host
        "user": value_of(raw.get("caller")),  # a UPN, or a service principal's object id
        "status": value_of(raw.get("status")),  # Started / Accepted / Succeeded / Failed ... as the vendor says
    }


CONNECTOR = declare(DECLARATION, normalize, hooks=hooks,
                    hook_fields=("subscription", "lookback_days", "overlap_minutes"))
