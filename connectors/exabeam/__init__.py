"""Exabeam New-Scale Security Operations Platform cases (vendor-apis-2.md §25): OAuth2 client credentials
(`POST /auth/v1/token`, a form; an expired token is a 401 "Jwt is expired", refreshed once), then
`POST /threat-center/v1/search/cases` per time window — no cursor, at most 3,000 rows an answer, a window past
that split in half (hooks.py). Exabeam can answer a failure with HTTP 200 and `{"errors": {"message": ...}}`:
declared below (`error_when`), it goes through the error table as a 500 (retried with backoff, then the
dead-letter queue) — which failures it reports that way is not documented, so none is taken as permanent.

A full sync starts at `start_time` (default: 30 days back); an incremental one at the cursor, the newest
`lastModifiedTimestamp` seen (that the window applies to it is unconfirmed; the simulator does so)."""
from __future__ import annotations

from typing import Any

from connectors.exabeam import hooks
from connectors.machinery import Declaration, ErrorWhen, HookPaging, OAuth2, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="exabeam", title="Exabeam cases", category="siem", kind="incident", stream="cases",
    # base_url: https://api.<region>.exabeam.cloud
    auth=OAuth2(token_url="{base_url}/auth/v1/token"),
    paging=HookPaging(style="time windows: POST search/cases, a window past the row cap split in half"),
    records="rows", id_field="caseId", cursor_field="lastModifiedTimestamp",
    error_when=ErrorWhen(path="errors", status=500, message="errors.message"),
    error_message="message",
    page_size=3000, max_page_size=3000,  # `limit`: 3,000 rows an answer at most
    config_fields={"start_time": "", "window_hours": 168},
)

PRIORITIES = {"critical": "critical", "high": "high", "medium": "medium", "low": "low", "info": "info",
              "informational": "info"}


def _texts(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str) and v]


def _time(value: Any) -> str | None:
    """ISO or epoch (s or ms): the case row's format is unconfirmed; an unreadable one is None."""
    try:
        return utc_iso(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
    except (ValueError, OverflowError, OSError):
        return None


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    priority, stage = raw.get("priority"), raw.get("stage")
    name = raw.get("alertName") if isinstance(raw.get("alertName"), str) else None
    return {
        "uid": str(raw["caseId"]),
        "title": name or str(raw.get("caseNumber") or raw["caseId"]),
        "severity": PRIORITIES.get(priority.strip().lower(), "medium") if isinstance(priority, str) else "medium",
        "time": _time(raw.get("caseCreationTimestamp")) or _time(raw.get("lastModifiedTimestamp"))
        or "1970-01-01T00:00:00Z",
        "status": stage.lower() if isinstance(stage, str) else None,
        "description": name,
        "tags": [f"use_case:{u}" for u in _texts(raw.get("useCases"))] + [f"queue:{q}" for q in _texts(raw.get("queue"))],
    }


CONNECTOR = declare(DECLARATION, normalize, hooks=hooks, hook_fields=("start_time", "window_hours"))
