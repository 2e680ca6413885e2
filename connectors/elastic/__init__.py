"""Elastic Security detection alerts: ApiKey header, point in time + search_after (vendor-apis.md §13)."""
from __future__ import annotations

from typing import Any

from connectors.declarative import Declaration, HeaderAuth, Request, SearchAfterPaging, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="elastic", title="Elastic Security detection alerts", category="siem", kind="event", stream="alerts",
    auth=HeaderAuth(template="ApiKey {api_key}"),  # api_key = base64(id:api_key), as Kibana hands it out
    # with a PIT the index is named when the PIT is opened, not in the search path
    request=Request(method="POST", path="/_search", since_body={"query": {"range": {"@timestamp": {"gte": "{since}"}}}}),
    paging=SearchAfterPaging(pit_path="/{index}/_pit", sort=[{"@timestamp": "asc"}]),
    records="hits.hits", id_field="_id", cursor_field="_source.@timestamp",
    error_code="error.type", error_message="error.reason",
    page_size=1000, max_page_size=10_000,
    config_fields={"index": ".alerts-security.alerts-default"},
)


def _name(src: dict[str, Any], field: str) -> str | None:
    """8.x sends flat dotted keys ("host.name"), older mappings nested objects ({"host": {"name"}})."""
    return src.get(f"{field}.name") or (src.get(field) or {}).get("name")


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    src = raw["_source"]
    return {
        "uid": raw["_id"],
        "title": src["kibana.alert.rule.name"],
        "severity": src["kibana.alert.severity"],
        "time": utc_iso(src["@timestamp"]),
        "host": _name(src, "host"),
        "user": _name(src, "user"),
        "status": src.get("kibana.alert.workflow_status"),
    }


CONNECTOR = declare(DECLARATION, normalize)
