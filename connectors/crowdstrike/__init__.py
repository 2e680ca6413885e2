"""CrowdStrike Falcon hosts: OAuth2 client credentials, scroll ids + entity details (vendor-apis.md §1); hidden
hosts from their own id query."""
from __future__ import annotations

from typing import Any

from connectors.crowdstrike import hooks
from connectors.machinery import Declaration, OAuth2, OffsetPaging, Pass, Request, TokenPaging, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="crowdstrike", title="CrowdStrike Falcon hosts", category="edr", kind="asset", stream="hosts",
    auth=OAuth2(token_url="{base_url}/oauth2/token", form={"member_cid": "{member_cid}"}),
    # the plain query endpoint stops at ~10k ids; the scroll endpoint has no such cap
    request=Request(path="/devices/queries/devices-scroll/v1", params={"sort": "device_id.asc"},
                    since_params={"filter": "modified_timestamp:>'{since}'"}),
    paging=TokenPaging(token="meta.pagination.offset", param="offset", size_param="limit",
                       total="meta.pagination.total"),
    # a hidden host (`hide_host`: deleted in the console) leaves both host queries; the hidden-hosts query
    # (offset/limit, falconpy QueryHiddenDevices) lists them, so their rows say "hidden" instead of going stale
    passes=(Pass(request=Request(path="/devices/queries/devices-hidden/v1", params={"sort": "device_id.asc"},
                                 since_params={"filter": "modified_timestamp:>'{since}'"}),
                 paging=OffsetPaging(total="meta.pagination.total")),),
    records="resources", id_field="device_id", cursor_field="modified_timestamp",
    volatile=("last_seen", "agent_local_time"),  # heartbeats: a change there alone is not a change
    error_code="errors.0.code", error_message="errors.0.message",
    rate_limit_per_minute=6000, page_size=1000, max_page_size=hooks.DETAILS_MAX,
    config_fields={"member_cid": ""},  # MSSP child tenant, sent with the token request when set
)


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    ips = [raw.get("local_ip"), raw.get("external_ip")]
    return {
        "uid": raw["device_id"],
        "hostname": raw.get("hostname"),
        "name": raw.get("hostname"),
        "os_name": raw.get("platform_name"),
        "os_version": raw.get("os_version"),
        "type": raw.get("product_type_desc"),
        "ips": [ip for ip in ips if ip],
        "macs": [raw["mac_address"]] if raw.get("mac_address") else [],
        "state": "hidden" if raw.get("host_hidden_status") == "hidden" else raw.get("status"),
        "domain": raw.get("machine_domain"),
        "serial_number": raw.get("serial_number"),
        "agent_version": raw.get("agent_version"),
        "groups": list(raw.get("groups") or []),
        "tags": list(raw.get("tags") or []),
        "first_seen_time": utc_iso(raw.get("first_seen")),
        "last_seen_time": utc_iso(raw.get("last_seen")),
        "modified_time": utc_iso(raw.get("modified_timestamp")),
    }


CONNECTOR = declare(DECLARATION, normalize, hooks=hooks)
