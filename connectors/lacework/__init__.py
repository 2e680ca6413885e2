"""Lacework (Fortinet FortiCNAPP) alerts (vendor-apis.md §28): an access token exchanged for the API key
(`POST /api/v2/access/tokens` with the secret in `X-LW-UAKS`: the session auth kind with a JSON body and a login
header), `POST /api/v2/Alerts/search` per bounded time window, then `GET paging.urls.nextPage` (hooks.py).

A full sync starts at `start_time` (default: 90 days back); an incremental one at the cursor, the newest alert
`startTime` seen. Windows are at most `window_days` long (Lacework bounds a search's time range; 7 days)."""
from __future__ import annotations

from typing import Any

from connectors.lacework import hooks
from connectors.machinery import Declaration, HookPaging, SessionLogin, declare
from connectors.machinery.values import text as _text
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="lacework", title="Lacework (FortiCNAPP) alerts", category="cloud", kind="event", stream="alerts",
    # base_url: https://<account>.lacework.net
    auth=SessionLogin(path="/api/v2/access/tokens", json_body={"keyId": "{key_id}", "expiryTime": 3600},
                      headers={"X-LW-UAKS": "{secret_key}"}, token="token", lifetime_seconds=3000),
    paging=HookPaging(style="time windows: POST Alerts/search, then GET paging.urls.nextPage"),
    records="data", id_field="alertId", cursor_field="startTime",
    error_message="message",
    page_size=500, max_page_size=5000,  # the vendor sets its own page size: page_size is not sent
    config_fields={"start_time": "", "window_days": hooks.MAX_WINDOW_DAYS},
)

# Lacework's words (UI/API "High", CLI "high") and numbers (1 = critical … 5 = info)
SEVERITIES = {"critical": "critical", "high": "high", "medium": "medium", "low": "low", "info": "info",
              "informational": "info", "1": "critical", "2": "high", "3": "medium", "4": "low", "5": "info"}
SEVERITY_FALLBACK = "medium"  # a value Lacework adds later (raw_data keeps it)


def severity(value: Any) -> str:
    return SEVERITIES.get((_text(value) or "").strip().lower(), SEVERITY_FALLBACK)


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = raw["alertInfo"] if isinstance(raw.get("alertInfo"), dict) else {}
    return {
        "uid": str(raw["alertId"]),
        "title": _text(raw.get("alertName")) or _text(info.get("subject")) or _text(raw.get("alertType"))
        or f"Lacework alert {raw['alertId']}",
        "severity": severity(raw.get("severity")),
        "time": utc_iso(_text(raw.get("startTime")) or _text(raw.get("endTime"))),
        "host": None,
        "user": None,
        "status": _text(raw.get("status")),
    }


CONNECTOR = declare(DECLARATION, normalize, hooks, hook_fields=("start_time", "window_days"))
