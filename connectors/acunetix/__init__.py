"""Acunetix (on-prem / Premium) vulnerabilities (vendor-apis-2.md §32): the `X-Auth` API key header, cursor
paging (`c` = the answer's `pagination.next_cursor`, `l` = limit), sorted `last_seen:desc`; an incremental
sync stops at the stored `last_seen` (hooks.py): no documented "since" filter. `vuln_id` is the finding's
identity (the one detail calls accept, not a scan's `target_vuln_id`)."""
from __future__ import annotations

from typing import Any

from connectors.acunetix import hooks
from connectors.machinery import Declaration, HeaderAuth, Request, TokenPaging, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="acunetix", title="Acunetix vulnerabilities", category="vulnerability", kind="vulnerability",
    stream="vulnerabilities",
    # base_url: https://<host>:3443 (a self-signed certificate by default: trust it with the CA bundle setting)
    auth=HeaderAuth(header="X-Auth", template="{api_key}"),
    request=Request(path="/api/v1/vulnerabilities", params={"s": "last_seen:desc"},
                    headers={"Accept": "application/json"}),
    paging=TokenPaging(token="pagination.next_cursor", param="c", size_param="l"),
    records="vulnerabilities", id_field="vuln_id", cursor_field="last_seen",
    error_code="code", error_message="message",  # {"code", "reason", "message", "details"} (unconfirmed)
    page_size=100, max_page_size=100,  # the SDK's default; the maximum is unconfirmed
)

# severity: 0 info .. 3 high; 4 "critical" in newer builds (unconfirmed)
SEVERITIES = {0: "info", 1: "low", 2: "medium", 3: "high", 4: "critical"}


def vuln_severity(value: Any) -> str:
    """Acunetix's int severity by name; an unreadable one is medium (raw_data keeps what came)."""
    if isinstance(value, bool) or value is None:
        return "medium"
    try:
        level = int(value)
    except (TypeError, ValueError):
        return "medium"
    return SEVERITIES.get(level, "critical" if level > 4 else "info")


def _tags(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str) and v]


def _score(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    return score if 0.0 <= score <= 10.0 else None


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    tags = _tags(raw.get("tags"))
    cves = [t.upper() for t in tags if t.upper().startswith("CVE-")]
    check = raw.get("vt_id") or raw.get("vt_name") or "unknown"
    return {
        "uid": str(raw["vuln_id"]),
        # a web finding rarely names a CVE: the vulnerability type (vt_id) is Acunetix's own check id
        "cve": cves[0] if cves else f"VT-{check}",
        "asset_uid": str(raw.get("target_id") or raw.get("affects_url") or "unknown"),
        "title": raw.get("vt_name") if isinstance(raw.get("vt_name"), str) else None,
        "severity": vuln_severity(raw.get("severity")),
        "cvss": _score(raw.get("cvss_score")),
        "status": raw.get("status") if isinstance(raw.get("status"), str) else None,
        "first_seen_time": utc_iso(raw.get("first_seen")),
        "last_seen_time": utc_iso(raw.get("last_seen")),
    }


CONNECTOR = declare(DECLARATION, normalize, hooks=hooks)
