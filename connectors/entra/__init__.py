"""Microsoft Entra ID users via Graph: client credentials; `/users` and the recycle bin in a full sync, the delta
query's changes in an incremental one, its delta link the cursor (vendor-apis.md §6, connectors/entra/hooks.py).
"""
from __future__ import annotations

from typing import Any

from connectors.entra import hooks
from connectors.machinery import Declaration, HookPaging, OAuth2, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="entra", title="Microsoft Entra ID users", category="identity", kind="user", stream="users",
    auth=OAuth2(token_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
                scope="https://graph.microsoft.com/.default"),
    # base_url https://graph.microsoft.com; `@odata.nextLink` with $skiptoken, `@odata.deltaLink` at a round's end
    paging=HookPaging(style="delta link + @odata.nextLink"),
    records="value", id_field="id", page_size=999, max_page_size=999,
    cursor_format="token",  # the delta link: opaque, stored after the time it came, used only on base_url's origin
    error_code="error.code", error_message="error.message",  # OData
    config_fields={"tenant": ...},  # Entra ID tenant (GUID or domain) of the token URL
)


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    if "@removed" in raw:  # a delta notice of a user deleted for good: Graph keeps nothing else of it
        raise ValueError(f"user deleted permanently ({(raw['@removed'] or {}).get('reason')}): "
                         "Graph sends its id only")
    enabled = raw.get("accountEnabled")
    status = None if enabled is None else ("enabled" if enabled else "disabled")
    return {
        "uid": raw["id"],
        "email": raw.get("mail") or raw["userPrincipalName"],  # mail is often empty; the UPN is email-shaped
        "username": raw["userPrincipalName"],
        "full_name": raw.get("displayName"),
        "status": "deleted" if raw.get("deletedDateTime") else status,  # in the recycle bin (30 days)
        "created_time": utc_iso(raw.get("createdDateTime")),
    }


CONNECTOR = declare(DECLARATION, normalize, hooks=hooks)
