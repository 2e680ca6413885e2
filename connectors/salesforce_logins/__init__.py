"""Salesforce login history (`LoginHistory`, read-only, kept about six months) via SOQL, as security events:
the org's connection, paging, time trap and throttle as the users' (connectors/salesforce/soql.py, org.py),
incremental by `LoginTime`. vendor-apis-2.md §35."""
from __future__ import annotations

from typing import Any

from connectors.machinery import declare
from connectors.salesforce.org import SalesforceOrg
from connectors.salesforce.soql import soql_declaration
from nexus_sync.models import utc_iso

LOGIN_FIELDS = ("Id, UserId, LoginTime, LoginType, SourceIp, Status, Application, Browser, Platform, LoginUrl, "
                "CountryIso")

DECLARATION = soql_declaration("LoginHistory", LOGIN_FIELDS, "LoginTime", type="salesforce_logins",
                               title="Salesforce login history", category="identity", kind="event", stream="logins")


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    status = raw.get("Status")
    outcome = status if isinstance(status, str) and status else "unknown"
    login_type = raw.get("LoginType")
    return {
        "uid": raw["Id"],
        "title": f"Salesforce login ({login_type or 'unknown type'}): {outcome}",
        "severity": "info" if outcome == "Success" else "low",  # a failed login alone is weak evidence
        "time": utc_iso(raw["LoginTime"]),
        "host": raw.get("SourceIp"),
        "user": raw.get("UserId"),
        "status": outcome,
    }


class SalesforceLogins(SalesforceOrg, declare(DECLARATION, normalize)):  # type: ignore[misc]
    """The declared connector, its api_version checked and the org's API usage read off every answer."""


CONNECTOR = SalesforceLogins
