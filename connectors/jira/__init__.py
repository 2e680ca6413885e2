"""Jira Cloud issues: JQL search (/search/jql, nextPageToken), Basic email:API token (vendor-apis.md §15).

Kind incident, not event: an issue is a long-lived case whose status and priority change; its identity is
its id, while an event's identity includes a 5-minute time window."""
from __future__ import annotations

from typing import Any

from connectors.declarative import BasicAuth, Declaration, Request, TokenPaging, declare
from connectors.jira import hooks
from nexus_sync.models import utc_iso

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


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    f = raw["fields"]
    priority = ((f.get("priority") or {}).get("name") or "Medium").lower()  # Medium: Jira's default
    return {
        "uid": raw["id"],
        "title": f"{raw['key']}: {f['summary']}",
        "severity": PRIORITY.get(priority, priority),
        "time": utc_iso(f["created"]),
        "status": (f.get("status") or {}).get("name"),
        "tags": list(f.get("labels") or []),
    }


CONNECTOR = declare(DECLARATION, normalize, hooks=hooks)
