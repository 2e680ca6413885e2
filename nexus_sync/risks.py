"""Incidents → risks (second spec, issue 5): HIGH/CRITICAL TheHive cases become risk records.

One risk per (tenant, source, external id): created the first time, updated after. Closed/resolved cases
never create a risk (they are counted as excluded); a case that closes after its risk was created closes the
risk: status CLOSED, the case's resolution in its description — a risk is never deleted. LOW/MEDIUM cases are
skipped and counted.

Impact and probability (1-5) from the case severity. The spec gives one example, HIGH (3) → impact 4,
probability 5; CRITICAL (4) → impact 5, probability 5 is our reading of it (one impact step above HIGH,
probability already at the top). LOW/MEDIUM never become risks, so they have no row.

    severity  TheHive  risk?  impact  probability
    LOW       1        skip   -       -
    MEDIUM    2        skip   -       -
    HIGH      3        yes    4       5
    CRITICAL  4        yes    5       5
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.sql.dml import ReturningInsert

from nexus_sync import db
from nexus_sync.models import severity as our_severity

SOURCE = "THEHIVE"
RISK_SCORES = {"HIGH": (4, 5), "CRITICAL": (5, 5)}  # severity → (impact, probability)
# TheHive v4 closes with Resolved/Deleted; v5 closes into stage Closed with one of these statuses
CLOSED_STATUSES = frozenset({"closed", "resolved", "deleted", "truepositive", "falsepositive", "indeterminate",
                             "other", "duplicated"})
NEW_RISK_STATUS = "OPEN"
CLOSED_RISK_STATUS = "CLOSED"  # spec 002 excludes "Closed/Resolved" cases: their risks close the same way
RESOLUTION_MAX = 100


@dataclass(frozen=True)
class Risk:
    external_id: str
    title: str
    description: str
    impact: int
    probability: int
    severity: str
    tags: list[str]


def case_severity(value: Any) -> str:
    """TheHive severity 1-4 (or our normalized low..critical) → LOW/MEDIUM/HIGH/CRITICAL. Total: below LOW
    (info) is LOW, anything unreadable MEDIUM (TheHive's default severity); neither makes a risk."""
    try:
        level = our_severity(value).upper()
    except ValueError:
        return "MEDIUM"
    return "LOW" if level == "INFO" else level


def is_closed(incident: dict[str, Any]) -> bool:
    return str(incident.get("status") or "").replace(" ", "").lower() in CLOSED_STATUSES


def resolution(incident: dict[str, Any]) -> str:
    """How the case was closed, in TheHive's words: v5's closing status is the resolution itself (TruePositive,
    FalsePositive, Indeterminate, Other, Duplicated); v4 says Resolved or Deleted."""
    return str(incident.get("status") or "Closed").strip()[:RESOLUTION_MAX]


def description(incident: dict[str, Any]) -> str:
    details = incident.get("description") or ""
    return f"Auto-created from incident {incident['uid']}" + (f"\n\n{details}" if details else "")


def to_risk(incident: dict[str, Any]) -> Risk | None:
    """A normalized incident (models.Incident fields) → its risk, or None when LOW/MEDIUM."""
    level = case_severity(incident["severity"])
    if level not in RISK_SCORES:
        return None
    impact, probability = RISK_SCORES[level]
    return Risk(external_id=incident["uid"], title=f"[INCIDENT] {incident['title']}",
                description=description(incident), impact=impact, probability=probability, severity=level,
                tags=["INCIDENT", "AUTOMATED", level])


def sync_risks(tenant_id: uuid.UUID | str, records: list[dict[str, Any]]) -> dict[str, int]:
    """Upsert the risks of these normalized incidents and close those of closed cases; counts created, updated,
    closed, skipped_low_medium and excluded_closed (closed cases without a risk to close)."""
    counts = {"created": 0, "updated": 0, "closed": 0, "skipped_low_medium": 0, "excluded_closed": 0}
    risks: dict[str, Risk] = {}
    closing: dict[str, dict[str, Any]] = {}
    for incident in records:  # the last version of a case in the batch wins
        uid = incident["uid"]
        if is_closed(incident):
            risks.pop(uid, None)
            closing[uid] = incident
            continue
        closing.pop(uid, None)
        risk = to_risk(incident)
        if risk is None:
            counts["skipped_low_medium"] += 1
        else:
            risks[uid] = risk
    tenant = uuid.UUID(str(tenant_id))
    with db.get_engine().begin() as conn:
        if risks:
            inserted = _upsert(conn, tenant, list(risks.values()))
            counts["created"] = sum(inserted)
            counts["updated"] = len(inserted) - counts["created"]
        if closing:
            counts["closed"] = _close(conn, tenant, list(closing.values()))
    counts["excluded_closed"] = len(closing) - counts["closed"]
    return counts


def _upsert(conn: sa.Connection, tenant: uuid.UUID, risks: list[Risk]) -> list[bool]:
    """Create or update; returns, per row, whether it was created."""
    t = db.risks
    rows = [{"id": uuid.uuid4(), "tenant_id": tenant, "source": SOURCE, "status": NEW_RISK_STATUS, **r.__dict__}
            for r in risks]
    stmt = insert(t).values(rows)
    upsert: ReturningInsert[Any] = stmt.on_conflict_do_update(
        constraint="uq_risks_external",
        # the risk's status belongs to the risk register once created: an update never resets it
        set_={c: stmt.excluded[c] for c in ("title", "description", "impact", "probability", "severity", "tags")}
        | {"updated_at": sa.func.now()},
    ).returning(sa.literal_column("xmax = 0").label("inserted"))
    return [row.inserted for row in conn.execute(upsert)]


def _close(conn: sa.Connection, tenant: uuid.UUID, incidents: list[dict[str, Any]]) -> int:
    """Close the existing risks of these closed cases, with the resolution; returns how many changed (a risk
    closed already with the same resolution is left as it is; one without a risk is no row to close)."""
    t = db.risks
    closed = sa.values(sa.column("external_id", sa.String), sa.column("description", sa.Text), name="closed").data(
        [(i["uid"], f"{description(i)}\n\nClosed in TheHive: {resolution(i)}") for i in incidents])
    stmt = (t.update()
            .where(t.c.tenant_id == tenant, t.c.source == SOURCE, t.c.external_id == closed.c.external_id,
                   sa.or_(t.c.status != CLOSED_RISK_STATUS, t.c.description != closed.c.description))
            .values(status=CLOSED_RISK_STATUS, description=closed.c.description, updated_at=sa.func.now())
            .returning(t.c.external_id))
    return len(conn.execute(stmt).all())
