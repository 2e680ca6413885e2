"""Qualys VMDR host detections: Basic + X-Requested-With, XML truncation paging, 409 rate limits (vendor-apis.md §7)."""
from __future__ import annotations

from typing import Any

from connectors.machinery import BasicAuth, Declaration, Request, XmlTruncationPaging, declare
from connectors.qualys import hooks
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="qualys", title="Qualys VMDR host detections", category="vulnerability", kind="vulnerability",
    stream="detections", format="xml",
    auth=BasicAuth(extra_headers={"X-Requested-With": "nexus-sync"}),
    # the default status filter leaves out Fixed detections: ask for all, so fixes arrive too
    request=Request(method="POST", path="/api/2.0/fo/asset/host/vm/detection/",
                    params={"action": "list", "truncation_limit": "{page_size}", "output_format": "XML",
                            "status": "New,Active,Re-Opened,Fixed", "show_results": "0"},
                    since_params={"detection_updated_since": "{since}"}),
    paging=XmlTruncationPaging(next_url=f"{hooks.RESPONSE}.WARNING.URL"),
    records="",  # the hook reads the whole answer: SIMPLE_RETURN errors, then hosts → detections
    id_field=hooks.KEY, cursor_field="LAST_UPDATE_DATETIME",
    # heartbeats of every scan (the detection's, and its host's copied into each detection): a change there
    # alone is not a change. LAST_UPDATE_DATETIME is the vendor's modification time, so it is not one.
    volatile=("LAST_FOUND_DATETIME", "LAST_TEST_DATETIME", "LAST_PROCESSED_DATETIME", "TIMES_FOUND",
              "HOST.LAST_SCAN_DATETIME", "HOST.LAST_VM_SCANNED_DATE", "HOST.LAST_VM_SCANNED_DURATION",
              "HOST.LAST_VM_AUTH_SCANNED_DATE", "HOST.LAST_VM_AUTH_SCANNED_DURATION", "HOST.LAST_PC_SCANNED_DATE"),
    since_format="%Y-%m-%dT%H:%M:%SZ",  # detection_updated_since: YYYY-MM-DD[THH:MM:SSZ]
    # errors are XML; on HTTP 200 the hook reads them, on an error status these paths apply when the
    # HTTP client can read the body
    error_code="SIMPLE_RETURN.RESPONSE.CODE", error_message="SIMPLE_RETURN.RESPONSE.TEXT",
    # the limit is per subscription (300 calls/h is unconfirmed): set config rate_limit_per_minute to match
    rate_limit_statuses=(409, 429), page_size=100, max_page_size=1000,
)

# Qualys severity 1 minimal, 2 medium, 3 serious, 4 critical, 5 urgent. Another value, or none (SEVERITY is
# optional in the DTD), is medium, the middle of the scale: an unrated detection is neither buried as info nor
# raised as critical. raw_data keeps what Qualys sent.
SEVERITY = {"1": "info", "2": "low", "3": "medium", "4": "high", "5": "critical"}
SEVERITY_FALLBACK = "medium"


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    host = raw["HOST"]
    cves = raw.get(hooks.CVES) or []
    return {
        "uid": raw[hooks.KEY],
        # the QID's first CVE in the KnowledgeBase's order (all of them stay in raw_data); a check that names
        # no CVE (a configuration or certificate check) is known by its QID
        "cve": cves[0] if cves else f"QID-{raw['QID']}",
        "asset_uid": host["ID"],
        "title": f"QID {raw['QID']} on {host.get('DNS') or host.get('IP') or host['ID']}",
        "severity": SEVERITY.get(str(raw.get("SEVERITY", "")).strip(), SEVERITY_FALLBACK),
        "status": raw.get("STATUS"),
        "first_seen_time": utc_iso(raw.get("FIRST_FOUND_DATETIME")),
        "last_seen_time": utc_iso(raw.get("LAST_FOUND_DATETIME")),
    }


CONNECTOR = declare(DECLARATION, normalize, hooks=hooks)
