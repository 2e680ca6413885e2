"""OneLogin users (API v2): OAuth2 client credentials (HTTP Basic, a JSON grant), the next page's cursor in
the `After-Cursor` response header, `updated_since` for incremental syncs (vendor-apis-2.md §37).
Rate limits: `X-RateLimit-Reset` counts the seconds until the reset (nexus_sync.http reads a small number as
seconds, an epoch-sized one as an instant)."""
from __future__ import annotations

from typing import Any

from connectors.machinery import Declaration, OAuth2, Request, TokenPaging, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="onelogin", title="OneLogin users", category="identity", kind="user", stream="users",
    # base_url: https://<subdomain>.onelogin.com; tokens live 10 h (expires_in 36000), cached for that long
    auth=OAuth2(token_url="{base_url}/auth/oauth2/v2/token", client_auth="basic", body="json"),
    request=Request(path="/api/2/users", since_params={"updated_since": "{since}"}),
    # the body is a bare array; `cursor=<After-Cursor>` until the header is absent or empty (never `page`)
    paging=TokenPaging(token="After-Cursor", token_in="header", param="cursor", size_param="limit"),
    records="", id_field="id", cursor_field="updated_at",
    since_format="%Y-%m-%dT%H:%M:%S.%3fZ",
    error_code="name", error_message="message",  # {"statusCode", "name", "message"} (unconfirmed for all calls)
    rate_limit_per_minute=80,  # 5,000 calls an hour by default (unconfirmed), a little under it
    page_size=100, max_page_size=100,
)

# user.status (ints; the meaning of each is from OneLogin's user docs, unconfirmed in the fact sheet)
STATUSES = {0: "unactivated", 1: "active", 2: "suspended", 3: "locked", 4: "password_expired",
            5: "awaiting_password_reset", 7: "password_pending", 8: "security_questions_required"}


def status(value: Any) -> str | None:
    """The user's status by name; an unknown code as `status_<n>` (raw_data keeps it), None without one."""
    if value is None or isinstance(value, bool):
        return None
    try:
        code = int(value)
    except (TypeError, ValueError):
        return "unknown"
    return STATUSES.get(code, f"status_{code}")


def _ids(value: Any) -> list[Any]:
    """A list of ids where one id, none or a list may come."""
    if value is None or value == "":
        return []
    return [v for v in value if v is not None] if isinstance(value, list) else [value]


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    names = [raw.get("firstname"), raw.get("lastname")]
    groups = [f"role:{r}" for r in _ids(raw.get("role_ids"))] + [f"group:{g}" for g in _ids(raw.get("group_id"))]
    return {
        "uid": str(raw["id"]),
        "email": raw.get("email") or raw["username"],
        "username": raw.get("username"),
        "full_name": " ".join(n for n in names if isinstance(n, str) and n) or None,
        "status": status(raw.get("status")),
        "created_time": utc_iso(raw.get("created_at")),
        "last_login_time": utc_iso(raw.get("last_login")),
        "modified_time": utc_iso(raw.get("updated_at")),
        "groups": groups,  # roles are where admin rights show
    }


CONNECTOR = declare(DECLARATION, normalize)
