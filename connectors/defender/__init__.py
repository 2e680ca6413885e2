"""Microsoft Defender for Endpoint machines: Entra ID client credentials, `@odata.nextLink` (vendor-apis.md §2)."""
from __future__ import annotations

from typing import Any

from connectors.machinery import Declaration, NextUrlPaging, OAuth2, Request, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="defender", title="Microsoft Defender for Endpoint machines", category="edr", kind="asset",
    stream="machines",
    # base_url: https://api.security.microsoft.com (or a geo host such as https://eu.api.security.microsoft.com)
    auth=OAuth2(token_url="https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
                scope="https://api.securitycenter.microsoft.com/.default"),
    request=Request(path="/api/machines", since_params={"$filter": "lastSeen gt {since}"}),
    paging=NextUrlPaging(next_path="@odata.nextLink", size_param="$top"),  # the link carries $skip
    records="value", id_field="id", cursor_field="lastSeen",
    volatile=("lastSeen",),  # heartbeats: a change there alone is not a change
    error_code="error.code", error_message="error.message",  # OData
    rate_limit_per_minute=100, page_size=10_000, max_page_size=10_000,
    config_fields={"tenant": ...},  # Entra ID tenant (GUID or domain) of the token URL
)


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    nics = raw.get("ipAddresses") or []
    ips = [raw.get("lastIpAddress"), raw.get("lastExternalIpAddress"), *(n.get("ipAddress") for n in nics)]
    return {
        "uid": raw["id"],
        "hostname": raw.get("computerDnsName"),
        "name": raw.get("computerDnsName"),
        "os_name": raw.get("osPlatform"),
        "os_version": raw.get("version"),
        "ips": [ip for ip in ips if ip],
        "macs": [n["macAddress"] for n in nics if n.get("macAddress")],  # 12 hex digits, no separators
        "state": raw.get("healthStatus"),
        "groups": [raw["rbacGroupName"]] if raw.get("rbacGroupName") else [],
        "tags": list(raw.get("machineTags") or []),
        "first_seen_time": utc_iso(raw.get("firstSeen")),
        "last_seen_time": utc_iso(raw.get("lastSeen")),
    }


CONNECTOR = declare(DECLARATION, normalize)
