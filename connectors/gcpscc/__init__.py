"""Google Cloud Security Command Center findings (vendor-apis.md §18, §27): a Google service account (JWT grant by
google-auth), `pageToken` paging, `filter` on `event_time` for incremental syncs.

Findings are vulnerabilities, as Security Hub's are: stateful (ACTIVE/INACTIVE), about one resource, rated by a
severity and re-observed over time. Their `findingClass` (VULNERABILITY, MISCONFIGURATION, THREAT, …) stays in
raw_data; `cve` is the CVE where the finding names one, else its category (the detector's check)."""
from __future__ import annotations

from typing import Any

from connectors.machinery import Declaration, GoogleServiceAccount, Request, TokenPaging, declare
from connectors.machinery.values import text as _text
from nexus_sync.http import dig
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="gcpscc", title="Google Cloud Security Command Center findings", category="cloud", kind="vulnerability",
    stream="findings",
    # base_url: https://securitycenter.googleapis.com
    auth=GoogleServiceAccount(),
    # `-`: every source; parent: organizations/<id>, folders/<id> or projects/<id>
    request=Request(path="/v2/{parent}/sources/-/locations/{location}/findings",
                    since_params={"filter": 'event_time >= "{since}"'}),
    paging=TokenPaging(token="nextPageToken", param="pageToken", size_param="pageSize", total="totalSize"),
    records="listFindingsResults", id_field="finding.name", cursor_field="finding.eventTime",
    # eventTime moves each time the finding is observed again: a heartbeat; stateChange is relative to the
    # request (compareDuration), not the finding
    volatile=("finding.eventTime", "stateChange"),
    error_code="error.status", error_message="error.message",
    page_size=1000, max_page_size=1000,
    config_fields={"parent": ..., "location": "global"},
)

SEVERITIES = {"CRITICAL": "critical", "HIGH": "high", "MEDIUM": "medium", "LOW": "low"}
NO_SEVERITY = "info"  # SEVERITY_UNSPECIFIED or none given: the finding rates itself at nothing
SEVERITY_FALLBACK = "medium"  # a value Google adds later: the middle of the scale (raw_data keeps it)
STATES = ("ACTIVE", "INACTIVE")


def severity(value: Any) -> str:
    text = (_text(value) or "").upper()
    if text in ("", "SEVERITY_UNSPECIFIED"):
        return NO_SEVERITY
    return SEVERITIES.get(text, SEVERITY_FALLBACK)


def status(value: Any) -> str | None:
    text = _text(value)
    if text in (None, "STATE_UNSPECIFIED"):
        return None
    return text if text in STATES else "UNKNOWN"


def cvss(finding: dict[str, Any]) -> float | None:
    score = dig(finding, "vulnerability.cve.cvssv3.baseScore")
    return float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) and 0 <= score <= 10 \
        else None


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    finding = raw["finding"]
    name = finding["name"]
    resource: dict[str, Any] = raw["resource"] if isinstance(raw.get("resource"), dict) else {}
    check = _text(finding.get("category")) or name
    return {
        "uid": name,
        "cve": _text(dig(finding, "vulnerability.cve.id")) or check,
        # the resource's full name; a finding without one is about its source (parent)
        "asset_uid": _text(finding.get("resourceName")) or _text(resource.get("name"))
        or _text(finding.get("parent")) or name,
        "title": check if not resource.get("displayName") else f"{check} on {_text(resource.get('displayName'))}",
        "severity": severity(finding.get("severity")),
        "cvss": cvss(finding),
        "status": status(finding.get("state")),
        "first_seen_time": utc_iso(_text(finding.get("createTime"))),
        "last_seen_time": utc_iso(_text(finding.get("eventTime"))),
    }


CONNECTOR = declare(DECLARATION, normalize)
