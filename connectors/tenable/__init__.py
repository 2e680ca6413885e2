"""Tenable Vulnerability Management: vulnerability export (async job + chunks), X-ApiKeys (vendor-apis.md §8)."""
from __future__ import annotations

from typing import Any

from connectors.declarative import Declaration, HeaderAuth, HookPaging, declare
from connectors.tenable import hooks
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="tenable", title="Tenable vulnerability findings", category="vulnerability", kind="vulnerability",
    stream="vulns", auth=HeaderAuth(header="X-ApiKeys", template="accessKey={access_key};secretKey={secret_key}"),
    paging=HookPaging(style="async export + chunks"),  # page_size = num_assets per chunk
    id_field="finding_id", cursor_field="last_found", page_size=500, max_page_size=5000,
    # heartbeats of every rescan: when last found, when indexed, which scan saw it (its uuid and times)
    volatile=("last_found", "indexed", "scan"),
    error_code="error", error_message="message",  # {"statusCode", "error", "message"}
)


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    plugin = raw["plugin"]
    cves = plugin.get("cve") or []
    return {
        "uid": raw["finding_id"],
        "cve": cves[0] if cves else f"PLUGIN-{plugin['id']}",  # many Nessus plugins name no CVE
        "asset_uid": raw["asset"]["uuid"],
        "title": plugin.get("name"),
        "severity": raw["severity"],
        "cvss": plugin.get("cvss3_base_score"),
        "status": raw.get("state"),
        "first_seen_time": utc_iso(raw.get("first_found")),
        "last_seen_time": utc_iso(raw.get("last_found")),
    }


CONNECTOR = declare(DECLARATION, normalize, hooks=hooks)
