"""AWS IAM users with their credential report: the Query protocol (form POST, XML answers) on the global
endpoint, signed for `iam` in us-east-1 (botocore; an assumed role with an external id where configured),
`Marker` while `IsTruncated`, throttled as HTTP 400 `Throttling` (vendor-apis-2.md §36). No server-side
incremental: every sync is a full sweep, rows keyed by UserId (stable across renames; the Arn is not)."""
from __future__ import annotations

from typing import Any

from connectors.awsiam import hooks, report
from connectors.machinery import Declaration, MarkerPaging, Request, SigV4, declare
from nexus_sync.models import utc_iso

RESULT = "ListUsersResponse.ListUsersResult"
HEARTBEATS = ("password_last_used", *(f"access_key_{n}_last_used_{part}" for n in (1, 2)
                                      for part in ("date", "region", "service")))

DECLARATION = Declaration(
    type="awsiam", title="AWS IAM users", category="identity", kind="user", stream="users",
    auth=SigV4(service="iam", region="us-east-1", region_field=None),  # global endpoint, one signing region
    request=Request(method="POST", path="/", form={"Action": "ListUsers", "Version": hooks.VERSION}),
    # fewer than MaxItems may come while more exist: IsTruncated alone says whether to go on
    paging=MarkerPaging(marker=f"{RESULT}.Marker", truncated=f"{RESULT}.IsTruncated", param="Marker",
                        where="form", size_param="MaxItems"),
    format="xml", records=f"{RESULT}.Users.member", id_field="UserId",
    # last use of the password and of each access key: heartbeats, not changes of the user
    volatile=("PasswordLastUsed", *(f"CredentialReport.{column}" for column in HEARTBEATS)),
    error_code="ErrorResponse.Error.Code", error_message="ErrorResponse.Error.Message",
    throttle_codes=("Throttling",),
    page_size=1000, max_page_size=1000,  # MaxItems 1-1000
)


def account_of(arn: Any) -> str | None:
    parts = arn.split(":") if isinstance(arn, str) else []
    return parts[4] if len(parts) >= 6 and parts[4] else None


def email(raw: dict[str, Any]) -> str | None:
    """IAM users have no mail address: the user name where it is one (a common naming rule), else none (the
    user's identity is then its UserId)."""
    name = str(raw.get("UserName") or "")
    return name if "@" in name.strip("@") else None


def status(row: dict[str, Any] | None) -> str | None:
    """ACTIVE while the user can sign in (a password, or an active access key or certificate), INACTIVE when
    every credential is off; None without a report row."""
    if not isinstance(row, dict):
        return None
    columns = ("password_enabled", "access_key_1_active", "access_key_2_active", "cert_1_active", "cert_2_active")
    if row.get("user") == report.ROOT:
        return "ACTIVE"  # the root user always exists and can recover its password
    return "ACTIVE" if any(report.flag(row, c) for c in columns) else "INACTIVE"


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    row = raw.get("CredentialReport") if isinstance(raw.get("CredentialReport"), dict) else None
    # the API omits PasswordLastUsed when it was never used since 2014-10-20 (or there is no password)
    last_login = raw.get("PasswordLastUsed") or report.value(row, "password_last_used")
    return {
        "uid": raw["UserId"],
        "email": email(raw),
        "username": "root" if raw.get("UserName") == report.ROOT else raw.get("UserName"),
        "status": status(row),
        "mfa": report.flag(row, "mfa_active"),
        "created_time": utc_iso(raw.get("CreateDate") or report.value(row, "user_creation_time")),
        "last_login_time": utc_iso(last_login),
    }


CONNECTOR = declare(DECLARATION, normalize, hooks)
