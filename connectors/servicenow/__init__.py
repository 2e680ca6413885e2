"""ServiceNow CMDB configuration items: Table API, Basic auth, Link-header paging (vendor-apis.md §14)."""
from __future__ import annotations

from typing import Any

from connectors.machinery import BasicAuth, Declaration, NextUrlPaging, Request, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="servicenow", title="ServiceNow CMDB configuration items", category="itsm", kind="asset", stream="cmdb_ci",
    auth=BasicAuth(),
    # ORDERBY keeps pages stable; raw values (no display values, no reference links), times in UTC
    request=Request(path="/api/now/table/{table}",
                    params={"sysparm_query": "ORDERBYsys_id", "sysparm_display_value": "false",
                            "sysparm_exclude_reference_link": "true"},
                    since_params={"sysparm_query": "sys_updated_on>{since}^ORDERBYsys_id"}),
    # Link rel="next" (it carries sysparm_offset), not "a short page is the last": ACLs can shorten any page
    # X-Total-Count (§14) counts the query's rows: an account whose ACLs hide some gets fewer, and the sync
    # then ends PARTIAL with the shortfall named (not an unnoticed gap)
    paging=NextUrlPaging(size_param="sysparm_limit", total_header="X-Total-Count"),
    records="result", id_field="sys_id", cursor_field="sys_updated_on",
    since_format="%Y-%m-%d %H:%M:%S",  # the encoded query compares sys_updated_on as this text (UTC)
    error_message="error.message",  # {"error": {"message", "detail"}, "status": "failure"}: no code
    page_size=1000, max_page_size=10000, config_fields={"table": "cmdb_ci"},
)

INSTALL_STATUS = {"1": "installed", "2": "on_order", "3": "in_maintenance", "4": "pending_install",
                  "5": "pending_repair", "6": "in_stock", "7": "retired", "8": "stolen", "100": "absent"}


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    def text(key: str) -> str | None:  # the Table API sends "" for an empty field
        return raw.get(key) or None

    status = text("install_status")
    return {
        "uid": raw["sys_id"],
        "hostname": text("fqdn") or text("host_name") or text("name"),
        "name": text("name"),
        "os_name": text("os"),
        "os_version": text("os_version"),
        "type": text("sys_class_name"),
        "ips": [raw["ip_address"]] if text("ip_address") else [],
        "macs": [raw["mac_address"]] if text("mac_address") else [],
        "state": INSTALL_STATUS.get(status, status) if status else None,
        "serial_number": text("serial_number"),
        "modified_time": utc_iso(text("sys_updated_on")),  # "YYYY-MM-DD hh:mm:ss", UTC
    }


CONNECTOR = declare(DECLARATION, normalize)
