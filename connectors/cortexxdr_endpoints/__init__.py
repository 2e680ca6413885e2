"""Palo Alto Cortex XDR endpoints (vendor-apis-2.md §21): the advanced API key signs every attempt
(connectors.machinery.auth.xdr); everything is a POST of `{"request_data": {...}}`; `search_from`/`search_to`
at most 100 apart; times are epoch milliseconds; incremental by `last_seen gte <ms>` (the field name is
unconfirmed). `get_endpoint` (filtered, paged, `{"reply": {"endpoints": [...]}}`) is used, never the unpaged
`get_endpoints`, whose reply is a bare list."""
from __future__ import annotations

import re
from typing import Any

from connectors.machinery import Declaration, Request, declare
from connectors.machinery.auth.xdr import XdrAuth
from connectors.machinery.paging.window import WindowPaging
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="cortexxdr_endpoints", title="Cortex XDR endpoints", category="edr", kind="asset", stream="endpoints",
    # base_url: https://api-<fqdn> ("Copy API URL" in the console); secrets api_key_id and api_key
    auth=XdrAuth(),
    request=Request(method="POST", path="/public_api/v1/endpoints/get_endpoint",
                    json_body={"request_data": {"filters": [], "sort": {"field": "last_seen", "keyword": "asc"}}},
                    since_body={"request_data": {"filters": [
                        {"field": "last_seen", "operator": "gte", "value": "{since_epoch_ms}"}]}}),
    paging=WindowPaging(into="request_data", total="reply.total_count"),
    records="reply.endpoints", id_field="endpoint_id", cursor_field="last_seen", cursor_format="epoch_ms",
    error_code="reply.err_code", error_message="reply.err_msg",
    volatile=("last_seen",),  # the check-in time alone is no change of the endpoint
    page_size=100, max_page_size=100,  # the vendor's cap per call
)

_OS = {"AGENT_OS_WINDOWS": "windows", "AGENT_OS_LINUX": "linux", "AGENT_OS_MAC": "macos",
       "AGENT_OS_ANDROID": "android", "AGENT_OS_IOS": "ios"}
_TYPES = {"AGENT_TYPE_WORKSTATION": "workstation", "AGENT_TYPE_SERVER": "server", "AGENT_TYPE_LAPTOP": "laptop",
          "AGENT_TYPE_MOBILE": "mobile", "AGENT_TYPE_CONTAINERIZED": "container"}
_MAC = re.compile(r"[0-9a-fA-F]{2}([:-]?)(?:[0-9a-fA-F]{2}\1){4}[0-9a-fA-F]{2}")


def strings(value: Any) -> list[str]:
    """A list of non-empty strings where one value, none or a list may come (XDR's ip, users, group_name)."""
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items if v is not None and v != "" and not isinstance(v, (dict, list))]


def enum(value: Any, known: dict[str, str], prefix: str) -> str | None:
    """An XDR enum by its short name; an unknown one lower-cased without the vendor's prefix."""
    if not isinstance(value, str) or not value:
        return None
    return known.get(value) or value.removeprefix(prefix).lower()


def state(raw: dict[str, Any]) -> str | None:
    """endpoint_status (CONNECTED / DISCONNECTED / LOST / UNINSTALLED...), `+isolated` when contained."""
    status = raw.get("endpoint_status")
    text = status.lower() if isinstance(status, str) and status else None
    if raw.get("is_isolated") == "AGENT_ISOLATED":
        return f"{text or 'unknown'}+isolated"
    return text


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    name = raw.get("endpoint_name") if isinstance(raw.get("endpoint_name"), str) else None
    domain = raw.get("domain") if isinstance(raw.get("domain"), str) and raw.get("domain") else None
    return {
        "uid": str(raw["endpoint_id"]),
        "hostname": name,
        "name": raw.get("alias") if isinstance(raw.get("alias"), str) and raw.get("alias") else name,
        "os_name": enum(raw.get("os_type"), _OS, "AGENT_OS_"),
        "os_version": raw.get("os_version") if isinstance(raw.get("os_version"), str) else None,
        "type": enum(raw.get("endpoint_type"), _TYPES, "AGENT_TYPE_"),
        "ips": strings(raw.get("ip")) + strings(raw.get("ipv6")) + strings(raw.get("public_ip")),
        "macs": [m for m in strings(raw.get("mac_address")) if _MAC.fullmatch(m)],
        "state": state(raw),
        "domain": domain,
        "agent_version": raw.get("endpoint_version") if isinstance(raw.get("endpoint_version"), str) else None,
        "groups": strings(raw.get("group_name")),
        "tags": [f"user:{u}" for u in strings(raw.get("users"))],
        "first_seen_time": utc_iso(raw.get("first_seen")),
        "last_seen_time": utc_iso(raw.get("last_seen")),
    }


CONNECTOR = declare(DECLARATION, normalize)
