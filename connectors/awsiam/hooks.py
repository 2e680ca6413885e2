"""IAM users with their credential posture: before the first ListUsers page, the credential report is
generated (GenerateCredentialReport, asked again until COMPLETE — a page that waits, no worker held); each
ListUsers page then carries each user's report row (matched by ARN) under `CredentialReport`, and the last
page adds the account's root user, who is in the report only (vendor-apis-2.md §36, quirk 2).

Page states: {"report_waited": s} while the report is generated; {"listing": <marker state> | None} after."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from connectors.awsiam import report
from connectors.base import Page
from connectors.machinery import JobFailed
from nexus_sync.http import dig

if TYPE_CHECKING:
    from connectors.machinery import DeclaredConnector, State

VERSION = "2010-05-08"
POLL_SECONDS = 2.0
BUDGET_SECONDS = 300.0  # AWS generates a report in seconds to minutes


def _call(conn: DeclaredConnector, action: str) -> Any:
    resp = conn.request("POST", conn.config.root + "/", data={"Action": action, "Version": VERSION})
    return dig(conn.decode(resp), f"{action}Response.{action}Result")


def fetch_page(conn: DeclaredConnector, state: State | None, since: str | None) -> Page:
    if state is None or "report_waited" in state:
        waited = float((state or {}).get("report_waited", 0.0))
        status = dig(_call(conn, "GenerateCredentialReport"), "State")
        if status != "COMPLETE":  # STARTED / INPROGRESS
            if waited + POLL_SECONDS > BUDGET_SECONDS:
                raise JobFailed(f"connector {conn.ctx.name!r}: the credential report was not ready after "
                                f"{waited:.0f}s")
            return Page([], {"report_waited": waited + POLL_SECONDS}, wait=POLL_SECONDS)
        state = {"listing": None}
    rows = report.rows(dig(_call(conn, "GetCredentialReport"), "Content"))
    page = conn.fetch_declared(state["listing"], since)
    users = [dict(user, CredentialReport=rows.get(str(user.get("Arn")))) if isinstance(user, dict) else user
             for user in page.records]
    if page.next is not None:
        return replace(page, records=users, next={"listing": page.next})
    root = next((row for row in rows.values() if row.get("user") == report.ROOT), None)
    return replace(page, records=users + ([root_user(root)] if root else []))


def root_user(row: dict[str, str]) -> dict[str, Any]:
    """The root user as a user record: its id is the account's (the root principal id), its ARN `…:root`."""
    account = row["arn"].split(":")[4] if row["arn"].count(":") >= 5 else row["arn"]
    return {"UserId": account, "UserName": report.ROOT, "Arn": row["arn"], "Path": "/",
            "CreateDate": report.value(row, "user_creation_time"), "CredentialReport": row}
