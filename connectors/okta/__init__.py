"""Okta users: SSWS API token, Link-header paging (vendor-apis.md §5); DEPROVISIONED users in a second pass."""
from __future__ import annotations

from typing import Any

from connectors.machinery import Declaration, HeaderAuth, NextUrlPaging, Pass, Request, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="okta", title="Okta users", category="identity", kind="user", stream="users",
    auth=HeaderAuth(header="Authorization", template="SSWS {token}"),
    request=Request(path="/api/v1/users", since_params={"filter": 'lastUpdated gt "{since}"'}),
    paging=NextUrlPaging(size_param="limit"),  # Link: <...?after=...>; rel="next"
    # listing all users leaves out the DEPROVISIONED ones (offboarded users would stay ACTIVE here forever):
    # a second pass asks for them by status, the only way Okta lists them; its Link paging carries the filter
    passes=(Pass(request=Request(path="/api/v1/users", params={"filter": 'status eq "DEPROVISIONED"'},
                                 since_params={"filter": 'status eq "DEPROVISIONED" and lastUpdated gt "{since}"'})),),
    records="", id_field="id", cursor_field="lastUpdated",
    since_format="%Y-%m-%dT%H:%M:%S.%3fZ",  # the filter's documented layout, to the millisecond
    error_code="errorCode", error_message="errorSummary",
    rate_limit_per_minute=600, page_size=200, max_page_size=200,
)


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    profile = raw["profile"]
    names = [profile.get("firstName"), profile.get("lastName")]
    return {
        "uid": raw["id"],
        "email": profile["email"],
        "username": profile.get("login"),
        "full_name": " ".join(n for n in names if n) or None,
        "status": raw.get("status"),
        "created_time": utc_iso(raw.get("created")),
        "last_login_time": utc_iso(raw.get("lastLogin")),
        "modified_time": utc_iso(raw.get("lastUpdated")),
    }


CONNECTOR = declare(DECLARATION, normalize)
