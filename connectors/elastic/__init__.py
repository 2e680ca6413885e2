"""Elastic Security detection alerts: ApiKey header, point in time + search_after (vendor-apis.md §13; the PIT
is opened, closed and released by connectors.machinery.paging.search_after)."""
from __future__ import annotations

from typing import Any

from connectors import cursors
from connectors.machinery import Declaration, HeaderAuth, Request, SearchAfterPaging, declare
from nexus_sync.models import severity, utc_iso

# An alert changes in place: Kibana's status update (POST /api/detection_engine/signals/status) rewrites
# kibana.alert.workflow_status and stamps kibana.alert.workflow_status_updated_at, leaving @timestamp (the
# alert's creation) as it was. An alert's modification time is the later of the two; a never-triaged alert
# has only @timestamp.
CREATED, STATUS_UPDATED = "@timestamp", "kibana.alert.workflow_status_updated_at"
CHANGED_SINCE = {"bool": {"should": [{"range": {CREATED: {"gte": "{since}"}}},
                                     {"range": {STATUS_UPDATED: {"gte": "{since}"}}}],
                          "minimum_should_match": 1}}

DECLARATION = Declaration(
    type="elastic", title="Elastic Security detection alerts", category="siem", kind="event", stream="alerts",
    auth=HeaderAuth(template="ApiKey {api_key}"),  # api_key = base64(id:api_key), as Kibana hands it out
    # with a PIT the index is named when the PIT is opened, not in the search path
    request=Request(method="POST", path="/_search", since_body={"query": CHANGED_SINCE}),
    paging=SearchAfterPaging(pit_path="/{index}/_pit", sort=[{"@timestamp": "asc"}]),
    records="hits.hits", id_field="_id", cursor_field=f"_source.{CREATED}",  # see ElasticAlerts.cursor_value
    error_code="error.type", error_message="error.reason",
    # what the search adds to a hit, not the alert: `sort` ends in the implicit _shard_doc tie-breaker, a
    # Lucene doc id that a segment merge renumbers
    volatile=("sort", "_score"),
    page_size=1000, max_page_size=10_000,
    config_fields={"index": ".alerts-security.alerts-default"},
)

# Kibana rates an alert low/medium/high/critical, with default risk scores 21/47/73/99 (§13 pairs "high" with
# 73). Any other severity takes the band of its risk score around those defaults; without a usable score it is
# rated medium, the middle of the scale. raw_data keeps what Elastic sent.
RISK_BANDS = ((21, "low"), (47, "medium"), (73, "high"), (100, "critical"))
SEVERITY_FALLBACK = "medium"


def alert_severity(src: dict[str, Any]) -> str:
    value = src.get("kibana.alert.severity")
    if value not in (None, ""):  # models.severity reads None as "none", i.e. info
        try:
            return severity(value)
        except ValueError:
            pass
    score = src.get("kibana.alert.risk_score")
    if isinstance(score, (int, float)) and not isinstance(score, bool) and 0 <= score <= 100:
        return next(level for top, level in RISK_BANDS if score <= top)
    return SEVERITY_FALLBACK


def _name(src: dict[str, Any], field: str) -> str | None:
    """8.x sends flat dotted keys ("host.name"), older mappings nested objects ({"host": {"name"}})."""
    return src.get(f"{field}.name") or (src.get(field) or {}).get("name")


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    src = raw["_source"]
    return {
        "uid": raw["_id"],
        "title": src["kibana.alert.rule.name"],
        "severity": alert_severity(src),
        "time": utc_iso(src["@timestamp"]),
        "host": _name(src, "host"),
        "user": _name(src, "user"),
        "status": src.get("kibana.alert.workflow_status"),
    }


class ElasticAlerts(declare(DECLARATION, normalize)):  # type: ignore[misc]
    def cursor_value(self, raw: dict[str, Any]) -> str | None:
        """The alert's modification time: the later of its creation and its last workflow status change."""
        src = raw.get("_source") or {}
        times = []
        for field in (CREATED, STATUS_UPDATED):
            if src.get(field) not in (None, ""):
                try:
                    times.append(cursors.canonical(src[field], "iso"))
                except ValueError as exc:
                    raise ValueError(f"_source.{field}: {exc}") from None
        return max(times, key=lambda t: cursors.instant(t, "iso")) if times else None


CONNECTOR = ElasticAlerts
