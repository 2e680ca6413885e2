"""CrowdStrike Falcon hosts: OAuth2 client credentials, scroll ids + entity details (vendor-apis.md §1)."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from connectors.auth import OAuth2ClientCredentials
from connectors.base import Connector, ConnectorConfig, Page
from nexus_sync.models import utc_iso

DETAILS_MAX = 5000  # POST /devices/entities/devices/v2 takes up to 5000 ids


class CrowdStrikeConfig(ConnectorConfig):
    page_size: int = Field(1000, ge=1, le=DETAILS_MAX)
    member_cid: str | None = None  # MSSP child tenant


class CrowdStrikeHosts(Connector):
    type = "crowdstrike"
    title = "CrowdStrike Falcon hosts"
    category = "edr"
    kind = "asset"
    stream = "hosts"
    auth = "oauth2_client_credentials"
    paging = "offset (scroll token)"
    id_field = "device_id"
    cursor_field = "modified_timestamp"
    rate_limit_per_minute = 6000
    Config = CrowdStrikeConfig

    def __init__(self, ctx):
        super().__init__(ctx)
        extra = {"member_cid": self.config.member_cid} if self.config.member_cid else None
        self.auth_ = OAuth2ClientCredentials(ctx.secrets, f"{self.config.root}/oauth2/token", extra,
                                             timeout=self.http.timeout)

    def fetch_page(self, state: dict[str, Any] | None, since: str | None) -> Page:
        # The plain query endpoint stops at ~10k ids; the scroll endpoint has no such cap.
        params: dict[str, Any] = {"limit": self.config.page_size, "sort": "device_id.asc"}
        seen = 0
        if state:
            params["offset"], seen = state["offset"], state["seen"]
        if since:
            params["filter"] = f"modified_timestamp:>'{since}'"
        body = self.http.json("GET", f"{self.config.root}/devices/queries/devices-scroll/v1",
                              params=params, auth=self.auth_)
        ids: list[str] = body["resources"] or []
        pagination = body["meta"]["pagination"]
        total = int(pagination.get("total") or 0)
        records: list[dict[str, Any]] = []
        if ids:
            details = self.http.json("POST", f"{self.config.root}/devices/entities/devices/v2",
                                     json={"ids": ids}, auth=self.auth_)
            records = details["resources"] or []
        seen += len(ids)
        token = pagination.get("offset")
        more = bool(ids) and bool(token) and seen < total
        return Page(records, {"offset": token, "seen": seen} if more else None, total)

    @staticmethod
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
            "state": raw.get("status"),
            "domain": raw.get("machine_domain"),
            "serial_number": raw.get("serial_number"),
            "agent_version": raw.get("agent_version"),
            "groups": list(raw.get("groups") or []),
            "tags": list(raw.get("tags") or []),
            "first_seen_time": utc_iso(raw.get("first_seen")),
            "last_seen_time": utc_iso(raw.get("last_seen")),
            "modified_time": utc_iso(raw.get("modified_timestamp")),
        }


CONNECTOR = CrowdStrikeHosts
