"""Tenable Vulnerability Management: vulnerability export (async job + chunks), X-ApiKeys (vendor-apis.md §8)."""
from __future__ import annotations

from typing import Any

from connectors.machinery import Declaration, HeaderAuth, JobPaging, Request, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="tenable", title="Tenable vulnerability findings", category="vulnerability", kind="vulnerability",
    stream="vulns", auth=HeaderAuth(header="X-ApiKeys", template="accessKey={access_key};secretKey={secret_key}"),
    paging=JobPaging(
        noun="export",
        # the export's default state filter leaves out FIXED findings: ask for all, so fixes arrive too
        create=Request(method="POST", path="/vulns/export",
                       json_body={"num_assets": "{page_size}", "filters": {"state": ["OPEN", "REOPENED", "FIXED"]}},
                       since_body={"filters": {"since": "{since_epoch}"}}),
        job_id="export_uuid", job_pattern=r"[0-9A-Za-z-]{1,64}",  # a UUID, quoted in our URLs and messages
        poll=Request(path="/vulns/export/{job}/status"),
        status="status", done=("FINISHED",), failed=("CANCELLED", "ERROR"),
        poll_seconds=3, budget_seconds=600,
        read=Request(path="/vulns/export/{job}/chunks/{chunk}"), chunks="chunks_available"),
    records="",  # a chunk is a JSON array of findings; page_size = num_assets per chunk
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


CONNECTOR = declare(DECLARATION, normalize)
