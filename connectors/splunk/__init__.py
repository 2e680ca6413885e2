"""Splunk notable events: bearer token, search job (create → poll → page results) (vendor-apis.md §12)."""
from __future__ import annotations

from typing import Any

from connectors.declarative import Declaration, HeaderAuth, HookPaging, declare
from connectors.splunk import hooks
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="splunk", title="Splunk notable events", category="siem", kind="event", stream="notable",
    auth=HeaderAuth(template="Bearer {token}"),  # a Splunk auth token; sessionKey login answers XML only
    paging=HookPaging(style="search job + offset/count"),
    # no native record id: _cd (bucket:offset) is unique within one index, and the search reads one
    id_field="_cd", cursor_field="_time",
    error_code="messages.0.type", error_message="messages.0.text",
    page_size=1000, max_page_size=50_000,  # maxresultrows
    config_fields={"search": "search index=notable"},
)


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    # Enterprise Security notable fields: rule_name, urgency, status_label (not in §12: an assumption)
    return {
        "uid": f"{raw['index']}:{raw['_cd']}",
        "title": raw["rule_name"],
        "severity": raw["urgency"],
        "time": utc_iso(raw["_time"]),
        "host": raw.get("dest") or raw.get("host"),
        "user": raw.get("user"),
        "status": raw.get("status_label"),
    }


CONNECTOR = declare(DECLARATION, normalize, hooks=hooks, hook_fields=("search",))
