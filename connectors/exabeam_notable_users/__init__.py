"""Exabeam Advanced Analytics notable users (vendor-apis-2.md §25, the AA rows) as users: `GET
/uba/api/users/notable?unit=&num=&numberOfResults=` with the cluster auth token in the `ExaAuthToken` header (the
fact sheet's token path; its header name is unconfirmed — AA's cookie login is the other path, not used). The
answer is a ranked list of the users notable within the last `num` `unit`s (quirk 3: not an incremental feed):
every sync reads it whole (hooks.py), one request, no paging, no cursor. A user who drops off the list is
"no longer listed" like any full sync's missing row: no longer notable, which says nothing of the account
(its `status` comes from AA's own `accessStatus`)."""
from __future__ import annotations

from typing import Any

from connectors.exabeam_notable_users import hooks
from connectors.machinery import Declaration, HeaderAuth, HookPaging, declare
from connectors.machinery.values import instant as _time
from connectors.machinery.values import text as _text

DECLARATION = Declaration(
    type="exabeam_notable_users", title="Exabeam Advanced Analytics notable users", category="siem", kind="user",
    stream="notable_users",
    # base_url: https://<aa-host>
    auth=HeaderAuth(header="ExaAuthToken", template="{token}"),  # a cluster auth token (Settings > Cluster Auth Token)
    paging=HookPaging(style="one ranked list (users/notable), no paging"),
    records="users", id_field="user.username",
    error_message="message",  # {"message": ...} (unconfirmed for AA)
    page_size=1000, max_page_size=100000,  # not sent: number_of_results bounds the list
    config_fields={"unit": "d", "num": 1, "number_of_results": 10000},
)

# AA's `accessStatus` words (the XSOAR fixture shows "Account deleted"); another value is kept lower-cased
STATUSES = {"account deleted": "deleted", "account disabled": "disabled", "account locked": "locked",
            "account is active": "active", "account active": "active"}


def _status(user: dict[str, Any]) -> str | None:
    words = (_text(user.get("accessStatus")) or "").strip().lower()
    return STATUSES.get(words, words or None)


def _groups(item: dict[str, Any], user: dict[str, Any], info: dict[str, Any]) -> list[str]:
    labels = user.get("labels")
    out = [str(x) for x in (labels if isinstance(labels, list) else [labels]) if isinstance(x, str) and x]
    group = _text(info.get("group"))  # "sap:design,milling"
    out += [g.strip() for g in (group or "").split(",") if g.strip()]
    if item.get("isExecutive") is True:
        out.append("executive")
    return out


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    user: dict[str, Any] = raw["user"] if isinstance(raw.get("user"), dict) else {}
    info: dict[str, Any] = user["info"] if isinstance(user.get("info"), dict) else {}
    username = str(user["username"])
    return {
        "uid": username,
        "username": username,
        "email": _text(info.get("email")),
        "full_name": _text(raw.get("userFullName")) or _text(info.get("fullName")),
        "status": _status(user),
        "created_time": _time(user.get("firstSeen")),
        "last_login_time": _time(user.get("lastSeen")),
        "modified_time": _time(user.get("lastActivityTime")),
        "groups": _groups(raw, user, info),
    }


CONNECTOR = declare(DECLARATION, normalize, hooks, hook_fields=("unit", "num", "number_of_results"))
