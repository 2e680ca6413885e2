"""VMware/Broadcom Carbon Black Cloud alerts, API v7 (vendor-apis-2.md §20): the same
`X-Auth-Token: <secret>/<id>` and org key path as the devices; `POST /api/alerts/v7/orgs/{org}/alerts/_search`
with a `time_range`, sorted by `backend_update_timestamp` ascending and paged by `start`/`rows` (hooks.py).
The cursor is the last `backend_update_timestamp` (when the backend last changed the alert), so updated alerts
are read again. v7 renamed v6 fields (`create_time` → `backend_timestamp`, `workflow.state` →
`workflow.status`...): the normalizer reads v7 first and the v6 name where v7's is missing."""
from __future__ import annotations

from typing import Any

from connectors.carbonblack_alerts import hooks
from connectors.machinery import Declaration, HeaderAuth, HookPaging, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="carbonblack_alerts", title="Carbon Black Cloud alerts (v7)", category="edr", kind="event",
    stream="alerts",
    auth=HeaderAuth(header="X-Auth-Token", template="{api_secret_key}/{api_id}"),
    paging=HookPaging(style="start/rows in a fixed time_range (now - 60 s)"),
    records="results", id_field="id", cursor_field="backend_update_timestamp", cursor_format="iso",
    error_message="message",  # {"success": false, "message": ...} (unconfirmed for every error)
    config_fields={"org_key": ..., "start_time": ""},
    page_size=100, max_page_size=10_000,  # Elastic keeps rows=100; the SDK caps rows at 10,000
)


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def severity(value: Any) -> str:
    """Carbon Black's 1-10 severity as a label; anything else is info (raw_data keeps it)."""
    try:
        level = int(value)
    except (TypeError, ValueError):
        return "info"
    return "info" if level <= 2 else "low" if level <= 4 else "medium" if level <= 6 else \
        "high" if level <= 8 else "critical"


def status(raw: dict[str, Any]) -> str | None:
    """workflow.status (v7: OPEN / IN_PROGRESS / CLOSED), or v6's workflow.state, lower-cased."""
    workflow = raw.get("workflow")
    workflow = workflow if isinstance(workflow, dict) else {}
    value = _text(workflow.get("status")) or _text(workflow.get("state"))
    return value.lower() if value else None


# when the alert happened, v7 names first then v6's (detection, backend creation, last update)
_TIMES = ("detection_timestamp", "backend_timestamp", "create_time", "backend_update_timestamp",
          "last_update_time")


def _time(value: Any) -> str | None:
    try:
        return utc_iso(value)
    except (TypeError, ValueError):  # an unreadable optional time: the next one is used
        return None


def when(raw: dict[str, Any]) -> str:
    found = next((t for t in map(_time, (raw.get(k) for k in _TIMES)) if t), None)
    if found is None:
        raise KeyError("backend_update_timestamp")  # an alert without any time is not an alert
    return found


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "uid": str(raw["id"]),
        "title": _text(raw.get("reason")) or _text(raw.get("type")) or f"Carbon Black alert {raw['id']}",
        "severity": severity(raw.get("severity")),
        "time": when(raw),
        "host": _text(raw.get("device_name")),
        "user": _text(raw.get("device_username")),
        "status": status(raw),
    }


CONNECTOR = declare(DECLARATION, normalize, hooks, hook_fields=("org_key", "start_time"))
