"""Acunetix (on-prem / Premium) scan targets as assets (vendor-apis-2.md §32): the `X-Auth` API key header,
cursor paging (`c` = `pagination.next_cursor`, `l` = limit). A target states no modification time, so every
sync is a full one (the pipeline's full-sync completeness then marks targets that are gone)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from connectors.machinery import Declaration, HeaderAuth, Request, TokenPaging, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="acunetix_targets", title="Acunetix targets", category="vulnerability", kind="asset", stream="targets",
    auth=HeaderAuth(header="X-Auth", template="{api_key}"),
    request=Request(path="/api/v1/targets", headers={"Accept": "application/json"}),
    paging=TokenPaging(token="pagination.next_cursor", param="c", size_param="l"),
    records="targets", id_field="target_id",
    error_code="code", error_message="message",
    page_size=100, max_page_size=100,
)

# target criticality (Acunetix's business criticality: 30 critical, 20 high, 10 normal, 0 low)
CRITICALITY = {30: "critical", 20: "high", 10: "normal", 0: "low"}


def _host(address: Any) -> str | None:
    """The host of a target address (a URL, or a bare host[:port])."""
    if not isinstance(address, str) or not address.strip():
        return None
    text = address.strip()
    try:
        host = urlsplit(text if "://" in text else f"//{text}").hostname
    except ValueError:
        return None
    return host or None


def _criticality(value: Any) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return []
    try:
        level = int(value)
    except ValueError:
        return []
    return [f"criticality:{CRITICALITY.get(level, str(level))}"]


def _time(value: Any) -> str | None:
    try:
        return utc_iso(value) if isinstance(value, str) else None
    except ValueError:
        return None


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    address = raw.get("address") if isinstance(raw.get("address"), str) else None
    description = raw.get("description") if isinstance(raw.get("description"), str) else None
    status = raw.get("last_scan_session_status")
    return {
        "uid": str(raw["target_id"]),
        "hostname": _host(address),
        "name": description or address,
        "type": "web_application",
        "state": status if isinstance(status, str) else None,
        "tags": _criticality(raw.get("criticality")) + ([f"target_type:{raw['type']}"]
                                                       if isinstance(raw.get("type"), str) and raw["type"] else []),
        "last_seen_time": _time(raw.get("last_scan_date")),
    }


CONNECTOR = declare(DECLARATION, normalize)
