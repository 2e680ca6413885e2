"""Incidents → risks (second spec, issue 5): HIGH/CRITICAL TheHive cases become risk records.

One risk per (tenant, source, external id): created the first time, updated after. Closed/resolved cases
are excluded; LOW/MEDIUM ones are skipped; both are counted.

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

from nexus_sync import db
from nexus_sync.models import severity as our_severity

SOURCE = "THEHIVE"
RISK_SCORES = {"HIGH": (4, 5), "CRITICAL": (5, 5)}  # severity → (impact, probability)
# TheHive v4 closes with Resolved/Deleted; v5 closes into stage Closed with one of these statuses
CLOSED_STATUSES = frozenset({"closed", "resolved", "deleted", "truepositive", "falsepositive", "indeterminate",
                             "other", "duplicated"})
NEW_RISK_STATUS = "OPEN"


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
    """TheHive severity 1-4 (or our normalized low..critical) → LOW/MEDIUM/HIGH/CRITICAL."""
    level = our_severity(value).upper()
    if level == "INFO":
        raise ValueError(f"no TheHive severity for {value!r}")
    return level


def is_closed(incident: dict[str, Any]) -> bool:
    return str(incident.get("status") or "").replace(" ", "").lower() in CLOSED_STATUSES


def to_risk(incident: dict[str, Any]) -> Risk | None:
    """A normalized incident (models.Incident fields) → its risk, or None when LOW/MEDIUM."""
    level = case_severity(incident["severity"])
    if level not in RISK_SCORES:
        return None
    impact, probability = RISK_SCORES[level]
    details = incident.get("description") or ""
    return Risk(external_id=incident["uid"], title=f"[INCIDENT] {incident['title']}",
                description=f"Auto-created from incident {incident['uid']}" + (f"\n\n{details}" if details else ""),
                impact=impact, probability=probability, severity=level, tags=["INCIDENT", "AUTOMATED", level])


def sync_risks(tenant_id: uuid.UUID | str, records: list[dict[str, Any]]) -> dict[str, int]:
    """Upsert the risks of these normalized incidents; counts created/updated/skipped_low_medium/excluded_closed."""
    counts = {"created": 0, "updated": 0, "skipped_low_medium": 0, "excluded_closed": 0}
    risks: dict[str, Risk] = {}
    for incident in records:
        if is_closed(incident):
            counts["excluded_closed"] += 1
            continue
        risk = to_risk(incident)
        if risk is None:
            counts["skipped_low_medium"] += 1
        else:
            risks[risk.external_id] = risk  # the last version of a case in the batch wins
    if not risks:
        return counts
    t = db.risks
    rows = [{"id": uuid.uuid4(), "tenant_id": uuid.UUID(str(tenant_id)), "source": SOURCE,
             "status": NEW_RISK_STATUS, **r.__dict__} for r in risks.values()]
    stmt = insert(t).values(rows)
    stmt = stmt.on_conflict_do_update(
        constraint="uq_risks_external",
        # the risk's status belongs to the risk register once created: an update never resets it
        set_={c: stmt.excluded[c] for c in ("title", "description", "impact", "probability", "severity", "tags")}
        | {"updated_at": sa.func.now()},
    ).returning(sa.literal_column("xmax = 0").label("inserted"))
    with db.get_engine().begin() as conn:
        inserted = [row.inserted for row in conn.execute(stmt)]
    counts["created"] = sum(inserted)
    counts["updated"] = len(inserted) - counts["created"]
    return counts
