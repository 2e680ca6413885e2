"""Jira Cloud issues: JQL search (/search/jql, nextPageToken), Basic email:API token (vendor-apis.md §15).

Kind incident, not event: an issue is a long-lived case whose status and priority change; its identity is
its id, while an event's identity includes a 5-minute time window."""
from __future__ import annotations

from typing import Any

from connectors.jira import hooks
from connectors.machinery import BasicAuth, Declaration, Request, TokenPaging, declare
from nexus_sync.models import severity, utc_iso

FIELDS = "summary,status,priority,issuetype,project,labels,assignee,created,updated"
DECLARATION = Declaration(
    type="jira", title="Jira Cloud issues", category="itsm", kind="incident", stream="issues",
    auth=BasicAuth(),  # username = the account's email, password = its API token
    # `jql` is a filter without ORDER BY (e.g. "project = SEC"): /search/jql refuses unbounded queries
    request=Request(path="/rest/api/3/search/jql", params={"jql": "{jql} ORDER BY updated ASC", "fields": FIELDS},
                    since_params={"jql": '({jql}) AND updated >= "{since}" ORDER BY updated ASC'}),
    paging=TokenPaging(token="nextPageToken", param="nextPageToken", size_param="maxResults"),
    records="issues", id_field="id", cursor_field="fields.updated",
    error_message="errorMessages.0",  # {"errorMessages": [...], "errors": {}}: no code
    page_size=100, max_page_size=100, config_fields={"jql": ...},
)

PRIORITY = {"highest": "critical", "high": "high", "medium": "medium", "low": "low", "lowest": "info"}
# Classic-scheme names (Blocker, Critical, Major, Minor, Trivial) are severity aliases in nexus_sync.models.
# A site may define its own priorities ("P1", "Showstopper"); an issue names its priority but not its rank,
# so an unknown name, like a missing priority, is rated medium: Jira's default priority, the middle of our
# scale. raw_data keeps the name Jira sent.
PRIORITY_FALLBACK = "medium"


def priority_severity(priority: Any) -> str:
    name = str((priority or {}).get("name") or "").strip().lower() if isinstance(priority, dict) else ""
    if not name:
        return PRIORITY_FALLBACK
    try:
        return severity(PRIORITY.get(name, name))
    except ValueError:
        return PRIORITY_FALLBACK


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    f = raw["fields"]
    return {
        "uid": raw["id"],
        "title": f"{raw['key']}: {f['summary']}",
        "severity": priority_severity(f.get("priority")),
        "time": utc_iso(f["created"]),
        "status": (f.get("status") or {}).get("name"),
        "tags": list(f.get("labels") or []),
    }


CONNECTOR = declare(DECLARATION, normalize, hooks=hooks)
