"""Incidents → risks (second spec, issue 5): the pure mapping, then upserts on the real Postgres."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from nexus_sync import db
from nexus_sync.models import Incident
from nexus_sync.risks import case_severity, sync_risks, to_risk


def incident(uid: str = "~81920", severity: int | str = 3, status: str = "InProgress", **extra) -> dict:
    data = {"uid": uid, "title": "Ransomware Detected", "severity": severity, "time": "2024-06-01T10:00:00Z",
            "status": status, "description": "Encrypted files on HR Server", "tags": ["ransomware"], **extra}
    return Incident.model_validate(data).model_dump()  # exactly what a thehive sync stores


def stored(tenant: uuid.UUID) -> list:
    t = db.risks.c
    with db.get_engine().connect() as conn:
        return conn.execute(sa.select(db.risks).where(t.tenant_id == tenant).order_by(t.external_id)).all()


@pytest.mark.parametrize("value,level", [(1, "LOW"), (2, "MEDIUM"), (3, "HIGH"), (4, "CRITICAL"),
                                         ("high", "HIGH"), ("critical", "CRITICAL"), ("info", "LOW"),
                                         (9, "MEDIUM")])
def test_severity_1_to_4(value, level):
    assert case_severity(value) == level


def test_the_spec_example_high_case():
    risk = to_risk(incident(uid="case_1234"))
    assert risk.title == "[INCIDENT] Ransomware Detected"
    assert risk.description == "Auto-created from incident case_1234\n\nEncrypted files on HR Server"
    assert (risk.impact, risk.probability) == (4, 5) and risk.tags == ["INCIDENT", "AUTOMATED", "HIGH"]


def test_critical_and_low_medium():
    critical = to_risk(incident(severity=4, description=None))
    assert (critical.impact, critical.probability, critical.severity) == (5, 5, "CRITICAL")
    assert critical.description == "Auto-created from incident ~81920"
    assert to_risk(incident(severity=1)) is None and to_risk(incident(severity=2)) is None


def test_created_once_then_updated(stack):
    tenant = uuid.uuid4()
    assert sync_risks(tenant, [incident("~1"), incident("~2", severity=4)]) == {
        "created": 2, "updated": 0, "closed": 0, "skipped_low_medium": 0, "excluded_closed": 0}
    first = {r.external_id: r for r in stored(tenant)}
    counts = sync_risks(tenant, [incident("~1", severity=4, title="Ransomware spreading"), incident("~3")])
    assert counts == {"created": 1, "updated": 1, "closed": 0, "skipped_low_medium": 0, "excluded_closed": 0}
    rows = {r.external_id: r for r in stored(tenant)}
    assert sorted(rows) == ["~1", "~2", "~3"]
    one = rows["~1"]
    assert one.id == first["~1"].id and one.created_at == first["~1"].created_at
    assert one.updated_at >= first["~1"].updated_at
    assert (one.title, one.impact, one.probability, one.severity) == ("[INCIDENT] Ransomware spreading", 5, 5,
                                                                      "CRITICAL")
    assert one.tags == ["INCIDENT", "AUTOMATED", "CRITICAL"] and one.source == "THEHIVE" and one.status == "OPEN"
    assert sync_risks(uuid.uuid4(), [incident("~1")])["created"] == 1, "risks are per tenant"


@pytest.mark.parametrize("status", ["Resolved", "Closed", "TruePositive", "FalsePositive", "Duplicated"])
def test_closed_and_resolved_cases_are_excluded(stack, status):
    tenant = uuid.uuid4()
    counts = sync_risks(tenant, [incident("~1", severity=4, status=status), incident("~2", status="New")])
    assert counts == {"created": 1, "updated": 0, "closed": 0, "skipped_low_medium": 0, "excluded_closed": 1}
    assert [r.external_id for r in stored(tenant)] == ["~2"]


def test_a_case_closed_after_its_risk_was_created_closes_the_risk(stack):
    tenant = uuid.uuid4()
    sync_risks(tenant, [incident("~1", severity=4), incident("~2")])
    (opened,) = [r for r in stored(tenant) if r.external_id == "~1"]
    counts = sync_risks(tenant, [incident("~1", severity=4, status="TruePositive"),
                                 incident("~3", severity=4, status="FalsePositive")])  # ~3 never had a risk
    assert counts == {"created": 0, "updated": 0, "closed": 1, "skipped_low_medium": 0, "excluded_closed": 1}
    rows = {r.external_id: r for r in stored(tenant)}
    assert sorted(rows) == ["~1", "~2"], "closing never deletes, and a closed case never creates a risk"
    closed = rows["~1"]
    assert (closed.id, closed.status, rows["~2"].status) == (opened.id, "CLOSED", "OPEN")
    assert closed.description == ("Auto-created from incident ~1\n\nEncrypted files on HR Server\n\n"
                                  "Closed in TheHive: TruePositive")
    assert (closed.title, closed.severity, closed.tags) == (opened.title, opened.severity, opened.tags)
    again = sync_risks(tenant, [incident("~1", severity=4, status="TruePositive")])
    assert again["closed"] == 0, "a risk closed already with that resolution is left as it is"
    assert sync_risks(tenant, [incident("~1", severity=4, status="Duplicated")])["closed"] == 1
    assert stored(tenant)[0].description.endswith("Closed in TheHive: Duplicated")


def test_low_and_medium_are_skipped_and_counted(stack):
    tenant = uuid.uuid4()
    counts = sync_risks(tenant, [incident("~1", severity=1), incident("~2", severity=2), incident("~3", severity=3)])
    assert counts == {"created": 1, "updated": 0, "closed": 0, "skipped_low_medium": 2, "excluded_closed": 0}
    assert [r.external_id for r in stored(tenant)] == ["~3"]


def test_a_simulated_thehive_tenant(stack, sim):
    """The thehive connector's normalized cases, as the persist stage would hand them over."""
    from connectors.thehive import normalize

    cases = [Incident.model_validate(normalize(c)).model_dump() for c in sim.truth("thehive").values()]
    counts = sync_risks(uuid.uuid4(), cases)
    open_cases = [c for c in sim.truth("thehive").values() if c["stage"] != "Closed"]
    assert counts["created"] == sum(c["severity"] >= 3 for c in open_cases)
    assert counts["skipped_low_medium"] == sum(c["severity"] <= 2 for c in open_cases)
    assert counts["excluded_closed"] == len(cases) - len(open_cases)


def test_a_thehive_sync_creates_risks_once_then_updates_them(stack, make_connector):
    """Through the pipeline: persist hands committed incidents to the risk engine; the report counts."""
    import sqlalchemy as sa

    from nexus_sync import db
    from nexus_sync.simulator import SimConfig, Simulator
    from tests.pipeline.helpers import run_inline

    s = Simulator(SimConfig(seed=13, sizes={"thehive": 120})).start()
    try:
        conn = make_connector(s, "thehive", page_size=50)
        _, report = run_inline(conn.name)
        truth = list(s.truth("thehive").values())
        open_cases = [c for c in truth if c["stage"] != "Closed"]
        high = sum(c["severity"] >= 3 for c in open_cases)
        assert report["status"] == "SUCCESS"
        assert report["follow_up"] == {"created": high, "updated": 0, "closed": 0,
                                       "excluded_closed": len(truth) - len(open_cases),
                                       "skipped_low_medium": len(open_cases) - high}
        with db.get_engine().connect() as c:
            risks = c.execute(sa.select(db.risks).where(db.risks.c.tenant_id == conn.tenant_id)).all()
        assert len(risks) == high and all(r.title.startswith("[INCIDENT] ") for r in risks)
        assert all("INCIDENT" in r.tags and "AUTOMATED" in r.tags and r.source == "THEHIVE" for r in risks)
        _, again = run_inline(conn.name)  # nothing changed: no risk touched, none created twice
        assert "follow_up" not in again and again["records"]["unchanged"] == len(truth)
        with db.get_engine().connect() as c:
            assert c.execute(sa.select(sa.func.count()).select_from(db.risks).where(
                db.risks.c.tenant_id == conn.tenant_id)).scalar_one() == high
    finally:
        s.stop()


def test_a_case_closed_in_thehive_closes_its_risk_on_the_next_sync(stack, make_connector):
    """Through the pipeline: open HIGH/CRITICAL cases make OPEN risks; cases closed in TheHive afterwards
    (a resolution status, stage Closed) close their risks on the next sync, with the resolution."""
    from nexus_sync.simulator import SimConfig, Simulator
    from tests.pipeline.helpers import run_inline

    s = Simulator(SimConfig(seed=21, sizes={"thehive": 60})).start()
    try:
        conn = make_connector(s, "thehive", page_size=25)
        before = s.truth("thehive")
        run_inline(conn.name)
        risky = {i for i, c in before.items() if c["stage"] != "Closed" and c["severity"] >= 3}
        assert {r.external_id: r.status for r in stored(conn.tenant_id)} == dict.fromkeys(risky, "OPEN")
        s.mutate("thehive", 1.0)  # triage: many open cases close with a resolution
        after = s.truth("thehive")
        _, report = run_inline(conn.name)
    finally:
        s.stop()
    closed_now = {i for i in risky if after[i]["stage"] == "Closed"}
    assert closed_now and risky - closed_now, "some risky cases closed, some stayed open"
    assert report["status"] == "SUCCESS" and report["follow_up"]["closed"] == len(closed_now)
    rows = {r.external_id: r for r in stored(conn.tenant_id)}
    assert risky <= set(rows), "no risk is deleted"
    for case_id in risky:
        if case_id in closed_now:
            assert rows[case_id].status == "CLOSED"
            assert rows[case_id].description.endswith(f"Closed in TheHive: {after[case_id]['status']}")
        else:
            assert rows[case_id].status == "OPEN"
