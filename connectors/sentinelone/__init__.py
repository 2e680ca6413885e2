"""SentinelOne agents: `ApiToken` header, `pagination.nextCursor` → `cursor` (vendor-apis.md §3)."""
from __future__ import annotations

from typing import Any

from connectors.machinery import Declaration, HeaderAuth, Request, TokenPaging, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="sentinelone", title="SentinelOne agents", category="edr", kind="asset", stream="agents",
    auth=HeaderAuth(template="ApiToken {token}"),
    # without isDecommissioned the list leaves decommissioned agents out (their rows would stay "connected");
    # asking for both states (and both install states, whose default is unconfirmed) lists every agent once
    request=Request(path="/web/api/v2.1/agents", params={"sortBy": "id", "sortOrder": "asc",
                                                         "isDecommissioned": "true,false",
                                                         "isUninstalled": "true,false"},
                    since_params={"updatedAt__gt": "{since}"}),
    paging=TokenPaging(token="pagination.nextCursor", param="cursor", size_param="limit",
                       total="pagination.totalItems"),  # §3: the count of the whole listing
    records="data", id_field="id", cursor_field="updatedAt",
    volatile=("lastActiveDate",),  # heartbeats: a change there alone is not a change
    error_code="errors.0.code", error_message="errors.0.detail",
    page_size=1000, max_page_size=1000,
)


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    nics = raw.get("networkInterfaces") or []
    ips = [raw.get("lastIpToMgmt"), raw.get("externalIp")]
    ips += [ip for nic in nics for ip in (nic.get("inet") or []) + (nic.get("inet6") or [])]
    return {
        "uid": raw["id"],
        "hostname": raw["computerName"],
        "name": raw["computerName"],
        "os_name": raw.get("osName"),
        "os_version": raw.get("osRevision"),
        "type": raw.get("machineType"),
        "ips": [ip for ip in ips if ip],
        "macs": [nic["physical"] for nic in nics if nic.get("physical")],
        "state": _state(raw),
        "domain": raw.get("domain"),
        "serial_number": raw.get("serialNumber"),
        "agent_version": raw.get("agentVersion"),
        "groups": [raw["siteName"]] if raw.get("siteName") else [],
        "first_seen_time": utc_iso(raw.get("registeredAt")),
        "last_seen_time": utc_iso(raw.get("lastActiveDate")),
        "modified_time": utc_iso(raw.get("updatedAt")),
    }


def _state(raw: dict[str, Any]) -> str | None:
    if raw.get("isDecommissioned"):
        return "decommissioned"
    if raw.get("isUninstalled"):
        return "uninstalled"
    return raw.get("networkStatus")


CONNECTOR = declare(DECLARATION, normalize)
