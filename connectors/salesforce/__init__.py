"""Salesforce users via SOQL: OAuth2 client credentials on the org's My Domain (HTTP Basic client
authentication), relative `nextRecordsUrl` paging, `SystemModstamp` (it moves on every change, system ones
too) as the cursor, its `+0000` times made the next query's literal (connectors/salesforce/soql.py); the
daily allocation's 403 `REQUEST_LIMIT_EXCEEDED` waited out, `Sforce-Limit-Info` read (connectors/salesforce/
org.py). vendor-apis-2.md §35."""
from __future__ import annotations

from typing import Any

from connectors.machinery import declare
from connectors.salesforce.org import SalesforceOrg
from connectors.salesforce.soql import soql_declaration
from nexus_sync.models import utc_iso

USER_FIELDS = "Id, Username, Email, Name, IsActive, UserType, Profile.Name, LastLoginDate, CreatedDate, SystemModstamp"

DECLARATION = soql_declaration("User", USER_FIELDS, "SystemModstamp", type="salesforce", title="Salesforce users",
                               category="identity", kind="user", stream="users")


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    profile = raw.get("Profile")  # a relationship field nests: {"attributes": ..., "Name": ...}
    profile_name = profile.get("Name") if isinstance(profile, dict) else None
    active = raw.get("IsActive")
    return {
        "uid": raw["Id"],
        "email": raw.get("Email") or raw["Username"],  # a Username is email-shaped and unique across orgs
        "username": raw.get("Username"),
        "full_name": raw.get("Name"),
        "status": None if not isinstance(active, bool) else ("active" if active else "inactive"),
        "created_time": utc_iso(raw.get("CreatedDate")),
        "last_login_time": utc_iso(raw.get("LastLoginDate")),
        "modified_time": utc_iso(raw.get("SystemModstamp")),
        "groups": [profile_name] if isinstance(profile_name, str) and profile_name else [],
    }


class SalesforceUsers(SalesforceOrg, declare(DECLARATION, normalize)):  # type: ignore[misc]
    """The declared connector, its api_version checked and the org's API usage read off every answer."""


CONNECTOR = SalesforceUsers
