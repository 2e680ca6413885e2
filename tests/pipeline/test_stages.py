"""Every stage on the real stack: rows in Postgres, cursor saved, archive rows, Kafka event, counts."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from nexus_sync import db, names, pipeline, staging
from nexus_sync.outbox.store import event_id
from nexus_sync.redis_client import get_redis
from tests.kafka import read_events
from tests.pipeline.helpers import archive_count, close, cursor_of, raw_rows, run_inline


def test_first_sync_stores_every_record_and_saves_the_cursor(sim, make_connector):
    conn = make_connector(sim, "crowdstrike", page_size=500)
    hid, report = run_inline(conn.name)
    truth = sim.truth("crowdstrike")
    rows = raw_rows(conn.tenant_id)
    assert report["status"] == "SUCCESS"
    assert report["records"]["new"] == len(truth) == 1200
    assert report["pages"] == 4  # 3 host pages + the hidden-hosts pass
    assert sorted(r.source_id for r in rows) == sorted(truth)
    sample = next(r for r in rows if r.source_id == sorted(truth)[0])
    raw = truth[sample.source_id]
    assert sample.data["hostname"] == raw["hostname"].lower()
    assert sample.data["macs"] == [raw["mac_address"].replace("-", ":").lower()]
    assert cursor_of(conn.id) == max(r["modified_timestamp"] for r in truth.values())
    assert archive_count(conn.tenant_id) == 1200
    with db.get_engine().connect() as c:
        hist = c.execute(sa.select(db.sync_history).where(db.sync_history.c.id == uuid.UUID(hid))).one()
    assert (hist.status, hist.records_new, hist.records_processed) == ("SUCCESS", 1200, 1200)
    assert hist.completed_at is not None and hist.duration_ms >= 0


def test_second_sync_classifies_new_updated_unchanged(sim, make_connector):
    conn = make_connector(sim, "okta")
    run_inline(conn.name)
    before = {r.source_id: r for r in raw_rows(conn.tenant_id)}
    changed = set(sim.mutate("okta", 0.1))
    _, report = run_inline(conn.name)
    after = {r.source_id: r for r in raw_rows(conn.tenant_id)}
    assert report["records"] == {"processed": 450, "new": 0, "updated": len(changed),
                                 "unchanged": 450 - len(changed), "invalid": 0, "merged": 0}
    assert len(changed) == 45
    for sid, row in after.items():
        assert row.last_seen >= before[sid].last_seen  # unchanged rows are touched
        assert row.ingested_at == before[sid].ingested_at and row.id == before[sid].id
        if sid in changed:
            assert row.data != before[sid].data
        else:
            assert row.data == before[sid].data
    assert archive_count(conn.tenant_id) == 450 + len(changed)


def test_every_stage_twice_gives_the_same_rows_and_counts(sim, make_connector):
    conn = make_connector(sim, "okta", page_size=100)
    _, report = run_inline(conn.name, twice=True)
    rows = raw_rows(conn.tenant_id)
    assert report["records"]["new"] == 450 and report["records"]["processed"] == 450
    assert len(rows) == len({r.source_id for r in rows}) == 450
    assert archive_count(conn.tenant_id) == 450


def test_cold_dedup_cache_falls_back_to_postgres(sim, make_connector):
    conn = make_connector(sim, "crowdstrike", page_size=1000)
    run_inline(conn.name)
    get_redis().delete(names.dedup_key(conn.tenant_id, conn.name))
    _, report = run_inline(conn.name)
    assert report["records"]["new"] == 0 and report["records"]["updated"] == 0
    assert report["records"]["unchanged"] == 1200
    assert get_redis().hlen(names.dedup_key(conn.tenant_id, conn.name)) == 1200  # warmed again


def test_bad_vendor_record_is_skipped_and_reported(sim, make_connector):
    conn = make_connector(sim, "okta", page_size=200)
    hid = str(uuid.uuid4())
    assert not pipeline.start(conn.name, hid).skipped
    pipeline.fetch(hid, 0, None, None)
    raw = staging.get(hid, 0, "raw")
    raw["records"][3]["profile"]["email"] = "not-an-email"
    del raw["records"][5]["profile"]
    staging.put(hid, 0, "raw", raw)
    with db.get_engine().begin() as c:  # pretend page 0 is the only page
        c.execute(db.sync_runs.update().where(db.sync_runs.c.sync_history_id == uuid.UUID(hid)).values(pages_total=1))
    counts = pipeline.normalize(hid, 0)
    assert counts == {"records": 198, "invalid": 2, "merged": 0, "known": 0}
    pipeline.dedup(hid, 0)
    pipeline.persist(hid, 0)
    pipeline.archive(hid, 0)
    report = close(hid)
    assert report["status"] == "PARTIAL"
    assert report["records"]["new"] == 198 and report["records"]["invalid"] == 2
    reasons = {i["index"]: i["error"] for i in report["invalid_records"]}
    assert "email" in reasons[3] and "profile" in reasons[5]
    assert len(raw_rows(conn.tenant_id)) == 198


def test_second_trigger_while_running_is_recorded_as_skipped(sim, make_connector):
    conn = make_connector(sim, "okta")
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert not pipeline.start(conn.name, first).skipped
    result = pipeline.start(conn.name, second)
    assert result.skipped and "already running" in result.reason
    with db.get_engine().connect() as c:
        status = c.execute(sa.select(db.sync_history.c.status).where(
            db.sync_history.c.id == uuid.UUID(second))).scalar()
    assert status == "SKIPPED"


def test_close_publishes_the_spec_event_on_kafka(sim, make_connector, stack):

    conn = make_connector(sim, "okta")
    hid, report = run_inline(conn.name)
    events = read_events(stack["kafka"]["bootstrap"], "connector.sync.complete",
                         lambda e: e["sync_id"] == report["sync_id"], keys=True, linger=2)
    assert len(events) == 1
    event = events[0]
    assert set(event) == {"event_id", "event_type", "sync_id", "connector_id", "tenant_id", "status", "records",
                          "duration_ms", "errors", "timestamp", "_key", "_headers"}
    # a stable id, in the payload and a header, keyed by connector as before: consumers drop repeats by it
    assert event["event_id"] == event_id(hid, "connector.sync.complete", "SUCCESS") == event["_headers"]["event_id"]
    assert event["_key"] == str(conn.id)
    assert event["event_type"] == "connector.sync.complete"
    assert event["connector_id"] == str(conn.id) and event["tenant_id"] == str(conn.tenant_id)
    assert event["status"] == "SUCCESS" and event["records"] == {"new": 450, "updated": 0, "touched": 0}
    assert event["timestamp"].endswith("Z")


@pytest.mark.parametrize("vendor", ["crowdstrike", "okta"])
def test_incremental_sync_fetches_only_changes_after_the_cursor(sim, make_connector, vendor):
    conn = make_connector(sim, vendor, incremental=True)
    run_inline(conn.name)
    first_cursor = cursor_of(conn.id)
    changed = sim.mutate(vendor, 0.05)
    _, report = run_inline(conn.name)
    assert report["records"]["processed"] == len(changed)
    assert report["records"]["updated"] == len(changed)
    assert cursor_of(conn.id) > first_cursor


def test_batch_stages_pause_the_gc_and_always_resume_it(sim, make_connector):
    """The stages hold the cyclic GC off while they work on a page, and turn it back on even when they fail."""
    import gc

    conn = make_connector(sim, "crowdstrike")
    hid = str(uuid.uuid4())
    pipeline.start(conn.name, hid, "test")
    seen: list[bool] = []
    original = staging.put_batch
    staging.put_batch = lambda *a, **k: (seen.append(gc.isenabled()), original(*a, **k))[1]
    try:
        pipeline.fetch(hid, 0, None, None)
        pipeline.normalize(hid, 0)
    finally:
        staging.put_batch = original
    assert seen == [False, False] and gc.isenabled()  # fetch and normalize both stage with it off
    with pytest.raises(Exception, match="gone"):
        pipeline.normalize(hid, 99)  # nothing staged for batch 99
    assert gc.isenabled()
    pipeline.release_lock(conn.id, hid)
