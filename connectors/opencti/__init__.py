"""OpenCTI indicators: Bearer token, GraphQL Relay paging over edges/node (vendor-apis.md §17).

Threat indicators are not one of our five kinds; they are stored as `event` (OCSF Detection Finding):
title = name (or the pattern), severity from x_opencti_score (else confidence), time = created_at.

A score decay (a lower x_opencti_score, updated_at moved) is a change even inside one severity band: the change
decision covers the vendor record. No field is a heartbeat (updated_at moves only with a change): `volatile`
stays empty. Rate limits are unconfirmed in the facts and no throttle inside a 200 is known: a 429 with
Retry-After is the error table's, and no `throttle_codes` are declared.
"""
from __future__ import annotations

from typing import Any

from connectors.machinery import Declaration, GraphQLPaging, HeaderAuth, Request, declare
from nexus_sync.models import utc_iso

FIELDS = ("id standard_id entity_type name pattern pattern_type valid_from valid_until x_opencti_score confidence "
          "revoked indicator_types x_opencti_main_observable_type created modified created_at updated_at")
QUERY = ("query Indicators($first: Int, $after: ID, $filters: FilterGroup, $orderBy: IndicatorsOrdering, "
         "$orderMode: OrderingMode) { indicators(first: $first, after: $after, filters: $filters, "
         f"orderBy: $orderBy, orderMode: $orderMode) {{ edges {{ node {{ {FIELDS} }} }} "
         "pageInfo { startCursor endCursor hasNextPage hasPreviousPage globalCount } } }")
SINCE = {"mode": "and", "filterGroups": [],
         "filters": [{"key": "updated_at", "values": ["{since}"], "operator": "gt", "mode": "or"}]}

DECLARATION = Declaration(
    type="opencti", title="OpenCTI indicators", category="threat_intel", kind="event", stream="indicators",
    auth=HeaderAuth(template="Bearer {token}"),
    request=Request(method="POST", path="/graphql", since_body={"variables": {"filters": SINCE}}),
    paging=GraphQLPaging(query=QUERY, connection="data.indicators",
                         variables={"orderBy": "created_at", "orderMode": "asc"},
                         total="data.indicators.pageInfo.globalCount"),
    records="data.indicators.edges", record_key="node", id_field="id", cursor_field="updated_at",
    error_code="errors.0.extensions.code", error_message="errors.0.message",
    page_size=500, max_page_size=5000,
)


def severity(score: int) -> str:
    """0-100 (score, or confidence) → our scale; the bands are ours, OpenCTI defines none."""
    return next(s for floor, s in ((80, "critical"), (60, "high"), (40, "medium"), (1, "low"), (0, "info"))
                if score >= floor)


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    score = raw.get("x_opencti_score")
    return {
        "uid": raw["id"],
        "title": raw.get("name") or raw["pattern"],
        "severity": severity(int(raw["confidence"] if score is None else score)),
        "time": utc_iso(raw["created_at"]),  # stable: an update must not look like a new event
        "status": "revoked" if raw.get("revoked") else "active",
    }


CONNECTOR = declare(DECLARATION, normalize)
