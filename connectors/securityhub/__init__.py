"""AWS Security Hub findings (ASFF): SigV4, NextToken in the body (vendor-apis.md §10)."""
from __future__ import annotations

from typing import Any

from connectors.declarative import Declaration, Request, SigV4, TokenPaging, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="securityhub", title="AWS Security Hub findings", category="cloud", kind="vulnerability",
    stream="findings",
    auth=SigV4(service="securityhub"),
    request=Request(method="POST", path="/findings", json_body={},
                    since_body={"Filters": {"UpdatedAt": [{"Start": "{since}"}]}}),
    paging=TokenPaging(token="NextToken", param="NextToken", where="body", size_param="MaxResults"),
    records="Findings", id_field="Id", cursor_field="UpdatedAt",
    volatile=("LastObservedAt",),  # heartbeats: a change there alone is not a change
    error_code="Code", error_message="Message",
    rate_limit_per_minute=180,  # GetFindings: 3 req/s
    page_size=100, max_page_size=100,
    config_fields={"region": ...},
)


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    vulns = raw.get("Vulnerabilities") or []
    cvss = (vulns[0].get("Cvss") or [{}])[0].get("BaseScore") if vulns else None
    return {
        "uid": raw["Id"],
        # a CVE where the finding has one (Inspector), else the finding itself (a failed control)
        "cve": vulns[0]["Id"] if vulns else raw["Id"],
        "asset_uid": raw["Resources"][0]["Id"],
        "title": raw["Title"],
        "severity": raw["Severity"]["Label"],
        "cvss": cvss,
        "status": (raw.get("Workflow") or {}).get("Status"),
        "first_seen_time": utc_iso(raw.get("FirstObservedAt") or raw["CreatedAt"]),
        "last_seen_time": utc_iso(raw.get("LastObservedAt") or raw["UpdatedAt"]),
    }


CONNECTOR = declare(DECLARATION, normalize)
