"""Wiz issues: OAuth2 client credentials (audience wiz-api), GraphQL issuesV2 connection (vendor-apis.md §11).

Kind incident: an issue is a rule firing on a cloud resource (status, severity, type, project), with no CVE
and no asset inventory fields; vulnerabilityFindings would be the vulnerability stream.

Incremental syncs filter and keep their cursor on `updatedAt`, the issue's modification time: a status change
(triage, resolution) moves it, where `createdAt` never moves. Wiz answers a rate limit with HTTP 200 and a
GraphQL error RATE_LIMIT_EXCEEDED whose `extensions.retryAfter` says how long to wait; it is waited out like a
429. Its unit is not in the facts (rate limits are unconfirmed there): read as seconds, the reading that never
asks again early. No field of an issue is a heartbeat: `volatile` stays empty."""
from __future__ import annotations

from typing import Any

from connectors.machinery import Declaration, GraphQLPaging, OAuth2, Request, declare
from nexus_sync.models import utc_iso

QUERY = """
query WizIssues($first: Int, $after: String, $filterBy: IssueFilters, $orderBy: IssueOrder) {
  issuesV2(filterBy: $filterBy, first: $first, after: $after, orderBy: $orderBy) {
    nodes {
      id status severity type createdAt updatedAt statusChangedAt resolvedAt dueAt
      sourceRule { id name } control { id name } project { id name slug }
      entitySnapshot { id type nativeType name cloudPlatform providerId region externalId subscriptionExternalId }
    }
    pageInfo { hasNextPage endCursor }
  }
}"""

DECLARATION = Declaration(
    type="wiz", title="Wiz issues", category="cloud", kind="incident", stream="issues",
    # the token host differs from the tenant's API host; config token_url overrides it
    auth=OAuth2(token_url="https://auth.app.wiz.io/oauth/token", form={"audience": "wiz-api"}),
    request=Request(method="POST", path="/graphql",
                    since_body={"variables": {"filterBy": {"updatedAt": {"after": "{since}"}}}}),
    paging=GraphQLPaging(query=QUERY, connection="data.issuesV2"),
    records="data.issuesV2.nodes", id_field="id", cursor_field="updatedAt",
    error_code="errors.0.extensions.code", error_message="errors.0.message",
    throttle_codes=("RATE_LIMIT_EXCEEDED",), throttle_wait="errors.0.extensions.retryAfter", throttle_wait_unit="s",
    page_size=100, max_page_size=500,
)


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    entity = raw.get("entitySnapshot") or {}
    project = raw.get("project") or {}
    return {
        "uid": raw["id"],
        "title": (raw.get("sourceRule") or raw.get("control") or {})["name"],
        "severity": raw["severity"],
        "time": utc_iso(raw["createdAt"]),
        "status": raw.get("status"),
        "description": " ".join(x for x in (entity.get("nativeType"), entity.get("externalId") or entity.get("name"))
                                if x) or None,
        "tags": [t for t in (raw.get("type"), project.get("slug")) if t],
    }


CONNECTOR = declare(DECLARATION, normalize)
