"""Lifecycle, only on proof: a complete full sync marks the rows it did not see missing and clears the ones
that came back; an outage, a short listing or an incremental sync marks nothing; past the retention a missing
row is deleted. One records.lifecycle event per sync, in parts, on Kafka and for webhooks."""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from nexus_sync import db, names, pipeline
from nexus_sync.config import get_settings
from nexus_sync.errors import TransientError
from nexus_sync.outbox import kafka_relay
from nexus_sync.outbox.store import event_id
from nexus_sync.redis_client import get_redis
from tests.kafka import read_events
from tests.pipeline import helpers
from tests.pipeline.helpers import raw_rows, run_inline, small_simulator

AGENTS = "/web/api/v2.1/agents"


@pytest.fixture
def s1():
    with small_simulator(41, sentinelone=300) as sim:
        yield sim


@pytest.fixture
def published(monkeypatch) -> list[dict[str, Any]]:
    """The records.lifecycle events as the outbox relay sends them to Kafka (still sent)."""
    sent: list[dict[str, Any]] = []
    real = kafka_relay.publish_many

    def spy(topic: str, keyed: list[tuple[str, dict[str, Any]]], *args: Any, **kwargs: Any) -> int:
        if topic == get_settings().lifecycle_topic:
            sent.extend(event for _, event in keyed)
        return real(topic, keyed, *args, **kwargs)

    monkeypatch.setattr(kafka_relay, "publish_many", spy)
    return sent


def missing(conn) -> dict[str, Any]:
    """source id → missing_since of the connector's rows marked missing."""
    rd = db.raw_data.c
    with db.get_engine().connect() as c:
        return dict(c.execute(sa.select(rd.source_id, rd.missing_since).where(
            rd.tenant_id == conn.tenant_id, rd.source == conn.name, rd.missing_since.is_not(None))).all())


def later(conn) -> None:
    """Time passes before the next sync: the rows were last seen a minute earlier than they were (syncs run
    minutes apart; lifecycle.seen_from allows for clock skew between workers, so back-to-back syncs in one
    test would count the previous sync's rows as seen)."""
    rd = db.raw_data.c
    with db.get_engine().begin() as c:
        c.execute(db.raw_data.update().where(rd.tenant_id == conn.tenant_id)
                  .values(last_seen=rd.last_seen - timedelta(minutes=1)))


def started_at(hid: str) -> Any:
    with db.get_engine().connect() as c:
        return c.execute(sa.select(db.sync_history.c.started_at)
                         .where(db.sync_history.c.id == uuid.UUID(hid))).scalar_one()


def test_complete_full_sync_marks_exactly_the_removed_and_clears_them_when_back(s1, make_connector, published):
    conn = make_connector(s1, "sentinelone", page_size=100)
    _, report = run_inline(conn.name)
    assert report["lifecycle"] == {"applied": True, "missing": 0, "returned": 0, "deleted": 0}
    assert published == []  # nothing went missing or came back: no event
    removed = s1.vendor("sentinelone").remove_agents(7)
    later(conn)
    hid, report = run_inline(conn.name)
    assert report["status"] == "SUCCESS" and report["lifecycle"]["missing"] == 7
    gone = missing(conn)
    assert set(gone) == set(removed) and set(gone.values()) == {started_at(hid)}
    [event] = published
    assert event == {"event_id": event_id(hid, "records.lifecycle", "SUCCESS", "1"),
                     "event_type": "records.lifecycle", "connector": conn.name, "connector_id": str(conn.id),
                     "sync_id": report["sync_id"], "tenant_id": str(conn.tenant_id), "missing": 7, "returned": 0,
                     "deleted": 0, "missing_ids": sorted(removed), "returned_ids": [], "deleted_ids": [],
                     "part": 1, "parts": 1, "timestamp": event["timestamp"]}

    later(conn)
    _, report = run_inline(conn.name)  # still gone: marked once, from the sync that first missed them
    assert report["lifecycle"]["missing"] == 0 and missing(conn) == gone and len(published) == 1

    s1.reset("sentinelone")  # they are back
    _, report = run_inline(conn.name)
    assert report["lifecycle"] == {"applied": True, "missing": 0, "returned": 7, "deleted": 0}
    assert missing(conn) == {}
    assert published[-1]["returned_ids"] == sorted(removed) and published[-1]["missing"] == 0


def untouched_by(conn, hid: str) -> int:
    """Rows whose last_seen the sync did not write (relatime: not due within the connector's resolution)."""
    return sum(r.last_seen < started_at(hid) for r in raw_rows(conn.tenant_id))


def test_rows_seen_without_their_last_seen_written_are_not_missing(s1, make_connector, published):
    conn = make_connector(s1, "sentinelone", page_size=100)  # seen_resolution: the default hour
    run_inline(conn.name)
    later(conn)
    hid, report = run_inline(conn.name)
    assert untouched_by(conn, hid) >= 290  # the sync saw them and left their last_seen as it was
    assert report["lifecycle"] == {"applied": True, "missing": 0, "returned": 0, "deleted": 0}
    assert missing(conn) == {} and published == []


def test_a_record_really_absent_is_missing_beside_rows_left_untouched(s1, make_connector, published):
    conn = make_connector(s1, "sentinelone", page_size=100)
    run_inline(conn.name)
    removed = s1.vendor("sentinelone").remove_agents(3)
    later(conn)
    hid, report = run_inline(conn.name)
    assert untouched_by(conn, hid) >= 290  # the 3 removed, and the seen rows whose last_seen was not due
    assert report["lifecycle"]["missing"] == 3 and set(missing(conn)) == set(removed)


def test_the_close_asks_for_the_untouched_set_by_the_chunk(s1, make_connector, published, monkeypatch):
    """A million-record connector's set is never read whole into the worker (bench-large: 409 MB when it was)."""
    import redis

    from nexus_sync.pipeline import lifecycle

    conn = make_connector(s1, "sentinelone", page_size=100)
    run_inline(conn.name)
    removed = s1.vendor("sentinelone").remove_agents(3)
    later(conn)
    asked: list[int] = []
    real = redis.Redis.smismember

    def chunked(self, name, values, *args):
        asked.append(len(values))
        return real(self, name, values, *args)

    def whole(*_a, **_k):
        raise AssertionError("the sync's untouched set was read whole")

    monkeypatch.setattr(redis.Redis, "smembers", whole)
    monkeypatch.setattr(redis.Redis, "smismember", chunked)
    monkeypatch.setattr(lifecycle, "CHUNK", 50)
    hid, report = run_inline(conn.name)
    assert report["lifecycle"]["missing"] == 3 and set(missing(conn)) == set(removed)
    assert untouched_by(conn, hid) >= 290 and asked and max(asked) <= 50


def every_batch(conn) -> str:
    """A sync's every batch, stage by stage, short of its close; returns the sync's id."""
    hid = str(uuid.uuid4())
    started = pipeline.start(conn.name, hid, "test")
    state, batch = None, 0
    while True:
        fetched = pipeline.fetch(hid, batch, state, started.since)
        for stage in (pipeline.normalize, pipeline.dedup, pipeline.persist, pipeline.archive):
            stage(hid, batch)
        if fetched.next is None:
            return hid
        state, batch = fetched.next, batch + 1


def test_a_lost_set_of_rows_seen_untouched_marks_nothing_missing(s1, make_connector, published):
    """Redis lost the sync's set before the close (restarted without its data): no proof of what it saw."""
    conn = make_connector(s1, "sentinelone", page_size=100)
    run_inline(conn.name)
    s1.vendor("sentinelone").remove_agents(2)
    later(conn)
    hid = every_batch(conn)
    get_redis().delete(names.seen_untouched_key(hid))
    closed = pipeline.close_sync(hid)
    assert closed is not None and closed.report["status"] == "SUCCESS"
    assert closed.report["lifecycle"] == {"applied": False, "missing": 0, "returned": 0, "deleted": 0}
    assert missing(conn) == {} and published == []


def test_vendor_outage_mid_sync_marks_nothing_missing(s1, make_connector, published):
    conn = make_connector(s1, "sentinelone", page_size=100)
    run_inline(conn.name)
    later(conn)
    hid = str(uuid.uuid4())
    started = pipeline.start(conn.name, hid, "test")
    fetched = pipeline.fetch(hid, 0, None, started.since)  # page 1 of 3 lands
    for stage in (pipeline.normalize, pipeline.dedup, pipeline.persist, pipeline.archive):
        stage(hid, 0)
    s1.set_faults("sentinelone", broken_paths=[AGENTS])  # then the vendor goes down
    with pytest.raises(TransientError):
        pipeline.fetch(hid, 1, fetched.next, started.since)
    assert pipeline.fetch_failed(hid, 1, "TransientError: GET /web/api/v2.1/agents: 500")  # the dead letter's close
    closed = pipeline.close_sync(hid)
    assert closed is not None and closed.report["status"] == "PARTIAL"
    assert closed.report["lifecycle"] == {"applied": False, "missing": 0, "returned": 0, "deleted": 0}
    helpers.relay_events()
    assert missing(conn) == {} and helpers.owed(hid) == [] and published == []


def test_short_listing_marks_nothing_missing(s1, make_connector, published):
    conn = make_connector(s1, "sentinelone", page_size=100)
    run_inline(conn.name)
    s1.set_faults("sentinelone", short_listing=30)  # 30 agents not listed, the total still counts them
    later(conn)
    _, report = run_inline(conn.name)
    assert report["status"] == "PARTIAL" and report["lifecycle"]["applied"] is False
    assert missing(conn) == {} and published == []


def test_incremental_sync_marks_nothing_missing(s1, make_connector, published):
    conn = make_connector(s1, "sentinelone", page_size=100, incremental=True)
    run_inline(conn.name)  # the first sync has no saved cursor: full
    s1.vendor("sentinelone").remove_agents(5)
    s1.mutate("sentinelone", 0.1)
    later(conn)
    _, report = run_inline(conn.name)  # from the saved cursor: it lists the changed ones only
    assert report["status"] == "SUCCESS" and report["records"]["processed"] < 300
    assert report["lifecycle"]["applied"] is False and missing(conn) == {} and published == []


def test_rows_missing_past_the_retention_are_deleted_and_come_back_new(s1, make_connector, published,
                                                                        monkeypatch):
    conn = make_connector(s1, "sentinelone", page_size=100)
    run_inline(conn.name)
    removed = s1.vendor("sentinelone").remove_agents(4)
    later(conn)
    run_inline(conn.name)
    assert set(missing(conn)) == set(removed)
    monkeypatch.setattr(get_settings(), "missing_retention_days", 3)
    old, recent = removed[:3], removed[3:]
    rd = db.raw_data.c
    with db.get_engine().begin() as c:  # three of them have been missing for four days
        c.execute(db.raw_data.update().where(rd.tenant_id == conn.tenant_id, rd.source_id.in_(old))
                  .values(missing_since=rd.missing_since - timedelta(days=4)))
    _, report = run_inline(conn.name)
    assert report["lifecycle"] == {"applied": True, "missing": 0, "returned": 0, "deleted": 3}
    assert set(missing(conn)) == set(recent)
    assert published[-1]["deleted_ids"] == sorted(old) and published[-1]["deleted"] == 3
    cache = get_redis().hmget(names.dedup_key(conn.tenant_id, conn.name), old)
    assert cache == [None] * 3  # a deleted row's hash must not make its return look UNCHANGED
    s1.reset("sentinelone")
    _, report = run_inline(conn.name)
    assert report["records"]["new"] == 3 and report["lifecycle"]["returned"] == 1 and missing(conn) == {}


def test_event_parts_carry_at_most_the_chunk_of_ids(s1, make_connector, published, monkeypatch, stack):

    monkeypatch.setattr(get_settings(), "lifecycle_chunk_ids", 4)
    conn = make_connector(s1, "sentinelone", page_size=100)
    run_inline(conn.name)
    removed = s1.vendor("sentinelone").remove_agents(10)
    later(conn)
    hid, report = run_inline(conn.name)
    assert [(e["part"], e["parts"], len(e["missing_ids"])) for e in published] == [(1, 3, 4), (2, 3, 4), (3, 3, 2)]
    assert sorted(i for e in published for i in e["missing_ids"]) == sorted(removed)
    assert {e["missing"] for e in published} == {10}
    got = read_events(stack["kafka"]["bootstrap"], get_settings().lifecycle_topic,
                      lambda e: e["sync_id"] == report["sync_id"], want=3)
    assert got == published


def test_webhook_subscribers_get_the_parts_after_the_sync_event(s1, make_connector, monkeypatch, tmp_path):
    hooks = tmp_path / "hooks.yaml"
    hooks.write_text("subscribers:\n  - name: lifecycle-hook\n    url: http://127.0.0.1:9/hook\n"
                     "    events: [connector.sync.complete, records.lifecycle]\n")
    monkeypatch.setattr(get_settings(), "webhooks_file", hooks)
    conn = make_connector(s1, "sentinelone", page_size=100)
    run_inline(conn.name)
    s1.vendor("sentinelone").remove_agents(2)
    later(conn)
    hid = every_batch(conn)
    closed = pipeline.close_sync(hid)
    assert closed is not None
    owed = helpers.owed(hid)
    # Kafka: the parts before the sync's event; each webhook subscriber: the sync's event, then the parts
    assert [e["event_type"] for t, e in owed if t == "kafka"][:2] == ["records.lifecycle", "connector.sync.complete"]
    assert [e["event_type"] for t, e in owed if t == "webhook:lifecycle-hook"][:2] == [
        "connector.sync.complete", "records.lifecycle"]
    with db.get_engine().begin() as c:  # nothing listens at that address: these deliveries are not the point
        c.execute(db.outbox.delete().where(db.outbox.c.target == "webhook:lifecycle-hook"))
    helpers.relay_events()
    again = pipeline.close_sync(hid)  # notify ran twice: the events are owed once, nothing goes again
    assert again is not None and again.event is None and helpers.owed(hid) == []
