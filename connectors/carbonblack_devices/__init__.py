"""VMware/Broadcom Carbon Black Cloud devices (vendor-apis.md §4): `X-Auth-Token: <API secret key>/<API id>`,
the org key in the path, `POST .../devices/_search` paged by `start`/`rows` in the body, `num_found` the total.
`start` counts from 1, as the official SDK sends it (whether the API is 0- or 1-based is unconfirmed; 1-based
never skips a record either way). The facts name no change filter for devices: every sync lists them all."""
from __future__ import annotations

import re
from typing import Any

from connectors.machinery import Declaration, HeaderAuth, OffsetPaging, Request, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="carbonblack_devices", title="Carbon Black Cloud devices", category="edr", kind="asset", stream="devices",
    # base_url: https://<env>.conferdeploy.net (per environment); secrets api_secret_key and api_id
    auth=HeaderAuth(header="X-Auth-Token", template="{api_secret_key}/{api_id}"),
    request=Request(method="POST", path="/appservices/v6/orgs/{org_key}/devices/_search",
                    json_body={"criteria": {"status": ["ALL"]}}),
    paging=OffsetPaging(where="body", offset_param="start", limit_param="rows", total="num_found", start=1),
    records="results", id_field="id",
    error_message="message",  # {"success": false, "message": ...} (unconfirmed for every error)
    volatile=("last_contact_time", "last_reported_time"),  # check-ins alone are no change of the device
    config_fields={"org_key": ...},
    page_size=1000, max_page_size=10_000,  # the SDK's cap on rows
)

_OS = {"WINDOWS": "windows", "LINUX": "linux", "MAC": "macos"}
_MAC = re.compile(r"[0-9a-fA-F]{12}|[0-9a-fA-F]{2}(?:[:-][0-9a-fA-F]{2}){5}")


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def host_and_domain(name: Any) -> tuple[str | None, str | None]:
    """`DOMAIN\\host` → (host, DOMAIN); a plain name → (name, None)."""
    text = _text(name)
    if text and "\\" in text:
        domain, _, host = text.rpartition("\\")
        return host or None, domain or None
    return text, None


def state(raw: dict[str, Any]) -> str | None:
    """The device's status (REGISTERED, DEREGISTERED, BYPASS...), `+quarantined` when contained."""
    status = _text(raw.get("status"))
    text = status.lower() if status else None
    if raw.get("quarantined") is True:
        return f"{text or 'unknown'}+quarantined"
    return text


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    host, domain = host_and_domain(raw.get("name"))
    os_raw = _text(raw.get("os"))
    mac, deployment = _text(raw.get("mac_address")), _text(raw.get("deployment_type"))
    ips = [ip for ip in (_text(raw.get("last_internal_ip_address")), _text(raw.get("last_external_ip_address"))) if ip]
    return {
        "uid": str(raw["id"]),
        "hostname": host,
        "name": _text(raw.get("name")),
        "os_name": (_OS.get(os_raw.upper(), os_raw.lower()) if os_raw else None),
        "os_version": _text(raw.get("os_version")),
        "type": deployment.lower() if deployment else None,  # ENDPOINT, WORKLOAD...
        "ips": ips,
        "macs": [mac] if mac and _MAC.fullmatch(mac) else [],
        "state": state(raw),
        "domain": domain,
        "agent_version": _text(raw.get("sensor_version")),
        "groups": [f"policy:{p}" for p in [_text(raw.get("policy_name"))] if p],
        "tags": [f"user:{u}" for u in [_text(raw.get("login_user_name"))] if u],
        "first_seen_time": utc_iso(raw.get("registered_time")),
        "last_seen_time": utc_iso(raw.get("last_contact_time")),
    }


CONNECTOR = declare(DECLARATION, normalize)
