"""Circuit breaker and sync-level recovery: a failing vendor is not hammered, a failed sync is retried
after 5 minutes, then 1 hour, then dead-lettered with an alert."""
from __future__ import annotations

import time
import uuid

import sqlalchemy as sa

from nexus_sync import breaker, db, pipeline, recovery
from nexus_sync.config import get_settings
from tests.kafka import read_events
from tests.pipeline.helpers import close


def failed_sync(name: str, trigger: str = "manual") -> dict:
    hid = str(uuid.uuid4())
    started = pipeline.start(name, hid, trigger)
    if started.skipped:
        return {"skipped": started.reason, "sync_hid": hid}
    assert pipeline.fetch_failed(hid, 0, "TransientError: GET /api/v1/users: 503")
    return close(hid)


def status_of(hid: str) -> tuple[str, dict]:
    with db.get_engine().connect() as c:
        row = c.execute(sa.select(db.sync_history.c.status, db.sync_history.c.error_details)
                        .where(db.sync_history.c.id == uuid.UUID(hid))).one()
    return row.status, row.error_details


def test_breaker_opens_after_consecutive_failures_and_probes_after_cooldown(sim, make_connector, monkeypatch):
    settings = get_settings()
    monkeypatch.setattr(settings, "breaker_threshold", 3)
    monkeypatch.setattr(settings, "breaker_cooldown_seconds", 2)
    conn = make_connector(sim, "okta")
    for _ in range(3):
        assert failed_sync(conn.name)["status"] == "FAILED"
    skipped = failed_sync(conn.name)
    assert "circuit open after 3 consecutive failed syncs" in skipped["skipped"]
    status, details = status_of(skipped["sync_hid"])
    assert status == "SKIPPED" and "circuit open" in details["reason"]
    time.sleep(2.2)
    probe, other = str(uuid.uuid4()), str(uuid.uuid4())
    assert not pipeline.start(conn.name, probe, "schedule").skipped  # half-open: one probe
    assert breaker.check(conn.id, other).allowed is False
    batch, state = 0, None  # the probe runs for real
    while True:
        nxt = pipeline.fetch(probe, batch, state, None).next
        for stage in (pipeline.normalize, pipeline.dedup, pipeline.persist, pipeline.archive):
            stage(probe, batch)
        if nxt is None:
            break
        batch, state = batch + 1, nxt
    assert close(probe)["status"] == "SUCCESS"
    assert breaker.state(conn.id) == {}  # closed again
    assert not pipeline.start(conn.name, other).skipped


def test_failed_sync_is_retried_after_5_minutes_then_1_hour_then_dead_lettered(sim, make_connector, stack):

    conn = make_connector(sim, "okta")
    first = failed_sync(conn.name)
    plan = recovery.act(first)
    assert (plan.action, plan.delay, plan.trigger) == ("retry", 300, "recovery-1")
    assert recovery.act(first) is None  # notify ran twice: still one retry
    assert [e for e in recovery.due(time.time() + 299) if e["after"] == first["sync_id"]] == []
    [entry] = [e for e in recovery.due(time.time() + 301) if e["after"] == first["sync_id"]]
    assert entry == {"connector": conn.name, "trigger": "recovery-1", "after": first["sync_id"]}

    second = failed_sync(conn.name, entry["trigger"])
    assert second["trigger"] == "recovery-1"
    plan = recovery.act(second)
    assert (plan.action, plan.delay, plan.trigger) == ("retry", 3600, "recovery-2")
    recovery.due(time.time() + 3601)

    third = failed_sync(conn.name, "recovery-2")
    assert recovery.act(third).action == "dead_letter"
    with db.get_engine().connect() as c:
        letters = c.execute(sa.select(db.dead_letters).where(db.dead_letters.c.connector_id == conn.id)).all()
    assert [(d.task_name, d.args, d.kwargs, d.exception_type) for d in letters] == [
        ("tasks.sync.start_sync", [], {"connector": conn.name, "trigger": "dlq-replay"}, "SyncFailed")]
    assert "503" in letters[0].error
    alerts = read_events(stack["kafka"]["bootstrap"], "connector.sync.alert",
                         lambda e: e["sync_id"] == third["sync_id"])
    assert alerts and alerts[0]["severity"] == "critical" and alerts[0]["connector"] == conn.name


def test_redelivered_start_of_an_ended_sync_does_nothing(sim, make_connector):
    conn = make_connector(sim, "okta")
    report = failed_sync(conn.name)
    hid = report["sync_id"].removeprefix("sync-")
    again = pipeline.start(conn.name, str(uuid.UUID(hid)))
    assert again.skipped and "already ended FAILED" in again.reason


def test_token_expiring_mid_sync_is_refreshed_and_the_sync_succeeds(make_connector):
    from nexus_sync.simulator import SimConfig, Simulator
    from tests.pipeline.helpers import raw_rows, run_inline

    s = Simulator(SimConfig(seed=17, sizes={"crowdstrike": 700})).start()
    try:
        s.set_faults("crowdstrike", token_expire_after_requests=3)  # every token dies after 3 data calls
        conn = make_connector(s, "crowdstrike", page_size=100)
        _, report = run_inline(conn.name)
        assert report["status"] == "SUCCESS" and report["records"]["new"] == 700
        assert {r.source_id for r in raw_rows(conn.tenant_id)} == set(s.truth("crowdstrike"))
        stats = s.vendor("crowdstrike").get_stats()
        assert stats["served_401"] >= 3  # the expiry really happened, several times
    finally:
        s.stop()
