"""TheHive cases: Bearer API key, Query API with the offset window inside the query (vendor-apis.md §16)."""
from __future__ import annotations

from typing import Any

from connectors.machinery import Declaration, HeaderAuth, HookPaging, declare
from connectors.thehive import hooks
from nexus_sync.models import severity, utc_iso

DECLARATION = Declaration(
    type="thehive", title="TheHive cases", category="incident", kind="incident", stream="cases",
    auth=HeaderAuth(template="Bearer {token}"),
    paging=HookPaging(style="offset window (query page step from/to)"),
    records="", id_field="_id", cursor_field="_updatedAt", cursor_format="epoch_ms",  # §16: epoch ms
    page_size=100, max_page_size=1000, error_code="type", error_message="message",
)


# TheHive rates a case 1-4 (LOW … CRITICAL, with severityLabel beside it) and gives a new case 2, MEDIUM, unless
# told otherwise. A severity outside 1-4 takes its severityLabel when that reads, else MEDIUM, TheHive's own
# default. raw_data keeps what TheHive sent.
SEVERITY_FALLBACK = "medium"


def case_severity(raw: dict[str, Any]) -> str:
    for value in (raw.get("severity"), raw.get("severityLabel")):
        if value in (None, "") or isinstance(value, bool):  # severity(None) would read "none" as info
            continue
        try:
            return severity(value)
        except ValueError:
            continue
    return SEVERITY_FALLBACK


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "uid": raw["_id"],
        "title": raw["title"],
        "severity": case_severity(raw),  # 1-4 → low/medium/high/critical
        "time": utc_iso(raw["_createdAt"]),  # epoch milliseconds
        "status": raw.get("status"),
        "description": raw.get("description"),
        "tags": list(raw.get("tags") or []),
    }


CONNECTOR = declare(DECLARATION, normalize, hooks=hooks)
