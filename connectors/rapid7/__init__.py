"""Rapid7 InsightVM assets (console API v3): HTTP Basic, 0-based page + size until page.totalPages (vendor-apis.md §9).

Every sync is full: GET /api/3/assets has no filter, and the facts name POST /api/3/assets/search but no
modification-time criterion for it (an asset has no modification time at all; a scan date would miss changes
no scan makes). A rescan still lands: the change decision covers the vendor record (riskScore, vulnerability
counts, history), so a full sync stores every change and counts the rest UNCHANGED. No field is a heartbeat
(`history` is the scan log, and a new scan is news): `volatile` stays empty.

An address the console reached across a router, or an IPv6 one, has no MAC: its `mac` is absent and the
list field drops the None (models._list_of_values); its IP still counts.
"""
from __future__ import annotations

from typing import Any

from connectors.machinery import BasicAuth, Declaration, PagePaging, Request, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="rapid7", title="Rapid7 InsightVM assets", category="vulnerability", kind="asset", stream="assets",
    auth=BasicAuth(),  # base_url https://<console-host>:3780
    request=Request(path="/api/3/assets", params={"sort": "id,ASC"}),  # a stable order across pages
    paging=PagePaging(page_param="page", size_param="size", start=0, total_pages="page.totalPages",
                      total="page.totalResources"),
    records="resources", id_field="id", page_size=500, max_page_size=500,
    error_message="message",  # {"status", "message", "links"}: no code beyond the status
)


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    addresses = raw.get("addresses") or []
    fingerprint = raw.get("osFingerprint") or {}
    scans = sorted(t for t in (utc_iso(h.get("date")) for h in raw.get("history") or []) if t is not None)
    return {
        "uid": str(raw["id"]),
        "hostname": raw.get("hostName"),
        "name": raw.get("hostName"),
        "os_name": fingerprint.get("product") or raw.get("os"),
        "os_version": fingerprint.get("version"),
        "ips": [raw.get("ip"), *(a.get("ip") for a in addresses)],
        "macs": [raw.get("mac"), *(a.get("mac") for a in addresses)],
        "first_seen_time": scans[0] if scans else None,
        "last_seen_time": scans[-1] if scans else None,
    }


CONNECTOR = declare(DECLARATION, normalize)
