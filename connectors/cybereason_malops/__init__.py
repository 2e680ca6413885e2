"""Cybereason Malops (vendor-apis-2.md §22) as incidents: the console's cookie session, owned per task and shared
with the sensors type (connectors.cybereason.SESSION: one login per task, always logged out, re-established once
when it dies as a 302 to the login page); `POST /rest/detection/inbox` with `startTime`/`endTime` in epoch ms
answers every Malop of that window as `{"malops": [...]}` — no paging inside a window, so the listing slides
windows of `window_hours` from the start to now (hooks.py). The record is the SDK's MalopInboxModel
(forensic-security/cybereason tests/schemas/malops.yaml: the fact sheet has no Malop record). Identity: the
Malop's `guid`; cursor: `lastUpdateTime` (epoch ms), so a Malop updated later is read again."""
from __future__ import annotations

from typing import Any

from connectors.cybereason import SESSION
from connectors.cybereason_malops import hooks
from connectors.machinery import Declaration, HookPaging, declare
from connectors.machinery.values import text as _text
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="cybereason_malops", title="Cybereason Malops", category="edr", kind="incident", stream="malops",
    # base_url: https://<tenant>.cybereason.net (on-prem consoles often :8443)
    auth=SESSION,
    paging=HookPaging(style="startTime/endTime epoch-ms windows: POST /rest/detection/inbox, a window an answer"),
    records="malops", id_field="guid", cursor_field="lastUpdateTime", cursor_format="epoch_ms",
    error_code="status", error_message="message",  # the REST API's {"status": "FAILURE", "message"} (unconfirmed)
    config_fields={"start_time": "", "window_hours": 168},
)

# the SDK schema's severity / malopSeverity: Low, Medium, High or '' (not set)
SEVERITIES = {"low": "low", "medium": "medium", "high": "high", "critical": "critical", "info": "info"}


def severity(raw: dict[str, Any]) -> str:
    """The Malop's own `severity`, else its `malopSeverity`; unset or a value we do not know is medium (the raw
    value stays in raw_data)."""
    for field in ("severity", "malopSeverity"):
        value = (_text(raw.get(field)) or "").strip().lower()
        if value:
            return SEVERITIES.get(value, "medium")
    return "medium"


def _time(value: Any) -> str | None:
    try:
        return utc_iso(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else None
    except (ValueError, OverflowError, OSError):  # a time that does not parse is no time, never a dropped Malop
        return None


def _names(items: Any, prefix: str) -> list[str]:
    out = [_text(i.get("displayName")) for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    return [f"{prefix}:{n}" for n in out if n]


def _texts(items: Any, prefix: str) -> list[str]:
    values = items if isinstance(items, list) else [items]
    return [f"{prefix}:{v}" for v in (_text(x) for x in values) if v]


def _status(raw: dict[str, Any]) -> str | None:
    status = _text(raw.get("status"))  # Active, Remediated, Closed, Excluded
    if status:
        return status.lower()
    return "closed" if raw.get("closed") is True else None


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    guid = str(raw["guid"])
    kind = _text(raw.get("malopDetectionType")) or _text(raw.get("malopType"))
    cause = _text(raw.get("primaryRootCauseName"))
    return {
        "uid": guid,
        "title": _text(raw.get("displayName")) or cause or f"Cybereason Malop {guid}",
        "severity": severity(raw),
        "time": _time(raw.get("creationTime")) or _time(raw.get("lastUpdateTime")) or "1970-01-01T00:00:00Z",
        "status": _status(raw),
        "description": " — ".join(p for p in (kind, f"root cause {cause}" if cause else None) if p) or None,
        "tags": (_texts(raw.get("malopDetectionType"), "type") + _texts(raw.get("detectionEngines"), "engine")
                 + _texts(raw.get("labels"), "label") + _names(raw.get("machines"), "machine")
                 + _names(raw.get("users"), "user") + (["escalated"] if raw.get("escalated") is True else [])),
    }


CONNECTOR = declare(DECLARATION, normalize, hooks=hooks, hook_fields=("start_time", "window_hours"))
