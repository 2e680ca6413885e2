"""Palo Alto Cortex XDR incidents (vendor-apis-2.md §21): signed like the endpoints (the advanced API key,
connectors.machinery.auth.xdr), `POST /incidents/get_incidents` with `search_from`/`search_to` at most 100
apart, sorted by `modification_time` ascending; incremental by `modification_time gte <epoch ms>`, so an
updated incident is read again. Statuses are snake_case (`new`, `under_investigation`, `resolved_*`)."""
from __future__ import annotations

from typing import Any

from connectors.machinery import Declaration, Request, declare
from connectors.machinery.auth.xdr import XdrAuth
from connectors.machinery.paging.window import WindowPaging
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="cortexxdr_incidents", title="Cortex XDR incidents", category="edr", kind="incident", stream="incidents",
    auth=XdrAuth(),  # secrets api_key_id and api_key; base_url https://api-<fqdn>
    request=Request(method="POST", path="/public_api/v1/incidents/get_incidents",
                    json_body={"request_data": {"filters": [],
                                                "sort": {"field": "modification_time", "keyword": "asc"}}},
                    since_body={"request_data": {"filters": [
                        {"field": "modification_time", "operator": "gte", "value": "{since_epoch_ms}"}]}}),
    paging=WindowPaging(into="request_data", total="reply.total_count"),
    records="reply.incidents", id_field="incident_id", cursor_field="modification_time", cursor_format="epoch_ms",
    error_code="reply.err_code", error_message="reply.err_msg",
    page_size=100, max_page_size=100,  # the vendor's cap per call
)

_SEVERITIES = {"info": "info", "informational": "info", "low": "low", "medium": "medium", "high": "high",
               "critical": "critical"}


def severity(value: Any) -> str:
    """XDR's severity (low / medium / high / critical); `unknown` or anything else is info (raw_data keeps it)."""
    return _SEVERITIES.get(value.lower(), "info") if isinstance(value, str) else "info"


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def tags(raw: dict[str, Any]) -> list[str]:
    out = [f"source:{s}" for s in raw.get("incident_sources") or [] if isinstance(s, str)] \
        if isinstance(raw.get("incident_sources"), list) else []
    if raw.get("starred") is True:
        out.append("starred")
    owner = _text(raw.get("assigned_user_mail"))
    if owner:
        out.append(f"assignee:{owner}")
    return out


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    uid = str(raw["incident_id"])
    created = utc_iso(raw.get("creation_time")) or utc_iso(raw["modification_time"])
    description = _text(raw.get("description"))
    return {
        "uid": uid,
        "title": _text(raw.get("incident_name")) or description or f"Cortex XDR incident {uid}",
        "severity": severity(raw.get("severity")),
        "time": created,
        "status": _text(raw.get("status")),
        "description": description,
        "tags": tags(raw),
    }


CONNECTOR = declare(DECLARATION, normalize)
