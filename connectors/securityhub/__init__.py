"""AWS Security Hub findings (ASFF): SigV4, NextToken in the body (vendor-apis.md §10)."""
from __future__ import annotations

from typing import Any

from connectors.machinery import Declaration, Request, SigV4, TokenPaging, declare
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="securityhub", title="AWS Security Hub findings", category="cloud", kind="vulnerability",
    stream="findings",
    auth=SigV4(service="securityhub"),
    request=Request(method="POST", path="/findings", json_body={},
                    since_body={"Filters": {"UpdatedAt": [{"Start": "{since}"}]}}),
    paging=TokenPaging(token="NextToken", param="NextToken", where="body", size_param="MaxResults"),
    # a finding is unique by Id together with ProductArn (§10): source_id below keys rows by both
    records="Findings", id_field="Id", cursor_field="UpdatedAt",
    # heartbeats: when the provider last observed the resource, when Security Hub last received the finding
    volatile=("LastObservedAt", "ProcessedAt"),
    error_code="Code", error_message="Message",
    rate_limit_per_minute=180,  # GetFindings: 3 req/s
    page_size=100, max_page_size=100,
    config_fields={"region": ...},
)


WORKFLOW = ("NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED")


def status(raw: dict[str, Any]) -> str | None:
    """ARCHIVED when the finding is (its resource was deleted, or its product archived it), whatever its
    workflow said; else Workflow.Status, an unknown value as UNKNOWN (raw_data keeps it), None without one."""
    if raw.get("RecordState") == "ARCHIVED":
        return "ARCHIVED"
    workflow = raw.get("Workflow")
    value = workflow.get("Status") if isinstance(workflow, dict) else None
    return None if value is None else value if value in WORKFLOW else "UNKNOWN"


def finding_key(raw: dict[str, Any]) -> str:
    """Id|ProductArn: an Id is unique only within its product (§10: `Id` together with `ProductArn`)."""
    return f"{raw['Id']}|{raw['ProductArn']}"


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
        "status": status(raw),
        "first_seen_time": utc_iso(raw.get("FirstObservedAt") or raw["CreatedAt"]),
        "last_seen_time": utc_iso(raw.get("LastObservedAt") or raw["UpdatedAt"]),
    }


class SecurityHubFindings(declare(DECLARATION, normalize)):  # type: ignore[misc]
    """The declared connector, its rows keyed by finding_key."""

    def source_id(self, raw: dict[str, Any]) -> str:
        return finding_key(raw)


CONNECTOR = SecurityHubFindings
