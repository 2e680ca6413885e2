"""Microsoft Entra ID users via Graph: client credentials, `@odata.nextLink` with $skiptoken (vendor-apis.md §6).

Graph users have no modification time to filter on (delta queries are another API), so every sync is full;
the content hash tells changed users from unchanged ones.
"""
from __future__ import annotations

from typing import Any

from connectors.declarative import Declaration, NextUrlPaging, OAuth2, Request, declare
from nexus_sync.models import utc_iso

# without $select Graph returns a default set that lacks accountEnabled, department and createdDateTime
SELECT = ("id,userPrincipalName,displayName,mail,givenName,surname,accountEnabled,jobTitle,department,"
          "employeeId,employeeType,createdDateTime")

DECLARATION = Declaration(
    type="entra", title="Microsoft Entra ID users", category="identity", kind="user", stream="users",
    auth=OAuth2(token_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
                scope="https://graph.microsoft.com/.default"),
    request=Request(path="/v1.0/users", params={"$select": SELECT}),  # base_url https://graph.microsoft.com
    paging=NextUrlPaging(next_path="@odata.nextLink", size_param="$top"),
    records="value", id_field="id", page_size=999, max_page_size=999,
    error_code="error.code", error_message="error.message",  # OData
    config_fields={"tenant": ...},  # Entra ID tenant (GUID or domain) of the token URL
)


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    enabled = raw.get("accountEnabled")
    return {
        "uid": raw["id"],
        "email": raw.get("mail") or raw["userPrincipalName"],  # mail is often empty; the UPN is email-shaped
        "username": raw["userPrincipalName"],
        "full_name": raw.get("displayName"),
        "status": None if enabled is None else ("enabled" if enabled else "disabled"),
        "created_time": utc_iso(raw.get("createdDateTime")),
    }


CONNECTOR = declare(DECLARATION, normalize)
