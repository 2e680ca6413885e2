"""Issue 13 item 3: change-aware events through every pipeline stage on the real stack (stages in process,
notify's close + announce included): a change of a watched field is recorded in its persist's transaction and
published once as `record.changed` on Kafka; unchanged data records, publishes and queries nothing."""
from __future__ import annotations

import uuid
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

from nexus_sync import db, pipeline
from nexus_sync.pipeline import persisting
from nexus_sync.pipeline.changes import CHANGES_NS
from nexus_sync.simulator import Simulator
from tests.kafka import read_events
from tests.pipeline import helpers
from tests.pipeline.helpers import run_inline, small_simulator, stored


@pytest.fixture
def okta_sim() -> Iterator[Simulator]:
    with small_simulator(13, okta=60) as s:
        yield s


@pytest.fixture
def notify_inline(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """run_inline's close becomes notify's body (close_sync, which owes record.changed among its events, then
    announce), followed by the relay that publishes them on Kafka; returns the event types each close owed
    to Kafka."""
    announced: list[list[str]] = []

    def close(sync_hid: str) -> dict[str, Any] | None:
        closed = pipeline.close_sync(sync_hid)
        if closed is None:
            return None
        pipeline.announce(closed)
        announced.append([e["event_type"] for _, e in helpers.owed(sync_hid, "kafka")])
        helpers.relay_events()
        return closed.report

    monkeypatch.setattr(helpers, "close", close)
    return announced


def deprovision(sim: Simulator, status: str = "ACTIVE") -> str:
    """Offboard the first user of `status` as Okta's deactivate leaves them (lastUpdated moves on)."""
    vendor = sim.vendor("okta")
    with vendor.lock:
        rid = next(r for r in vendor.order if vendor.records[r]["status"] == status)
        at = "2030-01-01T00:00:00.000Z"
        vendor.records[rid] = {**vendor.records[rid], "status": "DEPROVISIONED", "statusChanged": at,
                               "lastUpdated": at, "transitioningToStatus": None}
        vendor.version += 1
        vendor.on_data_changed()
    return rid


def change_rows(sync_hid: str) -> list[Any]:
    rc = db.record_changes.c
    with db.get_engine().connect() as c:
        return c.execute(sa.select(db.record_changes).where(rc.sync_history_id == uuid.UUID(sync_hid))
                         .order_by(rc.id)).all()


def consume(bootstrap: str, sync_id: str, topic: str = "record.changed", until: int = 1) -> list[dict[str, Any]]:
    """The topic's events of one sync: read until `until` have come, then 5 s more for any extra."""
    return read_events(bootstrap, topic, lambda e: e["sync_id"] == sync_id, want=until, linger=5.0, keys=True)


def test_okta_user_deprovisioned_is_recorded_and_published_once(okta_sim, make_connector, stack, notify_inline):
    conn = make_connector(okta_sim, "okta", page_size=25)
    first_hid, first = run_inline(conn.name)
    assert first["records"]["new"] == 60 and change_rows(first_hid) == []  # a new record is no change

    rid = deprovision(okta_sim)
    hid, report = run_inline(conn.name, twice=True)  # every stage twice, notify (close + announce) twice
    assert report["records"]["updated"] == 1
    [row] = change_rows(hid)
    row_id = {sid: data for sid, (data, _) in stored(conn.tenant_id).items()}
    assert (row.source_id, row.type, row.source) == (rid, "user", conn.name)
    assert row.changes == {"status": {"before": "ACTIVE", "after": "DEPROVISIONED"}}
    assert row.severity == row_id[rid]["severity_score"] == 0

    events = consume(stack["kafka"]["bootstrap"], report["sync_id"])
    assert len(events) == 1, "notify ran twice, the change went out once"
    event = events[0]
    assert event["event_type"] == "record.changed" and event["_key"] == event["record_id"] == str(row.raw_data_id)
    assert event["event_id"] == str(uuid.uuid5(CHANGES_NS, f"{hid}:{row.raw_data_id}"))
    assert {k: event[k] for k in ("connector", "tenant_id", "kind", "source_id", "changes", "severity",
                                  "severity_label")} == {
        "connector": conn.name, "tenant_id": str(conn.tenant_id), "kind": "user", "source_id": rid,
        "changes": {"status": {"before": "ACTIVE", "after": "DEPROVISIONED"}}, "severity": 0,
        "severity_label": "info"}
    # owed once: the second close of the same outcome owes nothing (webhooks: tests/notify/test_change_webhooks.py)
    assert notify_inline[-2:] == [["connector.sync.complete", "record.changed"], []]


def test_resync_of_unchanged_data_records_publishes_and_queries_nothing(okta_sim, make_connector, stack,
                                                                        notify_inline, monkeypatch):
    calls: list[str] = []
    real = persisting.record_changes
    monkeypatch.setattr(persisting, "record_changes", lambda cur, ctx, kind: (calls.append(kind), real(cur, ctx, kind)))
    conn = make_connector(okta_sim, "okta", page_size=25)
    run_inline(conn.name)
    assert calls == [], "all new: no upsert, no change query"

    hid, report = run_inline(conn.name)
    assert report["records"]["unchanged"] == 60 and report["records"]["updated"] == 0
    assert calls == [] and change_rows(hid) == []
    assert consume(stack["kafka"]["bootstrap"], report["sync_id"], until=0) == []

    okta_sim.vendor("okta").mutate(0.1)  # status and/or last login: only status is watched
    hid, report = run_inline(conn.name)
    assert report["records"]["updated"] == 6 and calls == ["user"] * len(calls) and 1 <= len(calls) <= 3
    rows = change_rows(hid)
    assert 0 < len(rows) <= 6 and all(set(r.changes) == {"status"} for r in rows)
    assert all(r.changes["status"]["before"] != r.changes["status"]["after"] for r in rows)
