"""Upgrading in flight: batches persisted by the release before the outbox (their page still staged, no
archive owed, an `archive` task queued) are archived once by this release, and the sync still closes."""
from __future__ import annotations

import logging
import uuid

import pytest
import sqlalchemy as sa

from nexus_sync import db, names, pipeline
from nexus_sync.outbox import relay
from nexus_sync.outbox.store import ARCHIVE
from nexus_sync.pipeline import persisting
from nexus_sync.redis_client import get_redis
from tests.outbox.test_outages import owed_rows, until
from tests.pipeline.helpers import archive_count, close


def persisted_as_before(connector: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, int]:
    """A sync's every batch through persist as the previous release did it: rows written, page kept staged
    for the archive task, nothing owed. Returns the sync's id and its number of batches."""
    hid = str(uuid.uuid4())
    started = pipeline.start(connector, hid, "test")
    with monkeypatch.context() as old:
        old.setattr(persisting, "owe_archive", lambda *a, **k: None)
        old.setattr(persisting.staging, "drop", lambda *a, **k: None)
        batch, state = 0, None
        while True:
            fetched = pipeline.fetch(hid, batch, state, started.since)
            for stage in (pipeline.normalize, pipeline.dedup, pipeline.persist):
                stage(hid, batch)
            if fetched.next is None:
                return hid, batch + 1
            batch, state = batch + 1, fetched.next


def new_in(sync_hid: str, batch_no: int) -> int:
    sb = db.sync_batches.c
    with db.get_engine().connect() as c:
        return int(c.execute(sa.select(sb.records_new).where(
            sb.sync_history_id == uuid.UUID(sync_hid), sb.batch_no == batch_no)).scalar_one())


def test_a_previous_releases_archive_task_is_archived_once_and_the_sync_closes(sim, make_connector, monkeypatch,
                                                                              stack, caplog):
    from tasks.sync import archive as legacy_task

    assert legacy_task.name == "tasks.sync.archive"  # the queued message finds its task
    conn = make_connector(sim, "okta", page_size=100)
    hid, batches = persisted_as_before(conn.name, monkeypatch)
    assert batches >= 5 and owed_rows(hid, ARCHIVE) == 0 and archive_count(conn.tenant_id) == 0
    get_redis().delete(*get_redis().keys(names.stage_key(hid, batches - 1, "*")))  # one page expired meanwhile

    with caplog.at_level(logging.ERROR, logger="nexus_sync.pipeline.upgrade"):
        owed = [pipeline.owe_staged_archive(hid, b) for b in range(batches)]
    assert owed == [True] * (batches - 1) + [False]
    assert "staged page is gone" in caplog.text  # the one that cannot be archived is said, not silent
    assert [pipeline.owe_staged_archive(hid, b) for b in range(batches)] == [False] * batches  # a repeat: nothing
    assert not any(get_redis().scan_iter(names.stage_key(hid, "*", "*")))  # the staged pages are dropped

    until(lambda: relay.run_archive() and owed_rows(hid, ARCHIVE) == 0)
    assert archive_count(conn.tenant_id) == 450 - new_in(hid, batches - 1)  # all but the expired page's
    report = close(hid)
    assert report is not None and report["status"] == "SUCCESS" and report["records"]["new"] == 450


def test_work_owed_by_the_previous_release_zlib_payloads_is_sent(sim, make_connector, monkeypatch, stack):
    """The previous release kept owed payloads zlib-compressed; this one writes zstd. Work owed before the
    upgrade (ClickHouse away meanwhile) is archived once after it, every row of it."""
    import zlib

    import orjson

    from nexus_sync import compress
    from nexus_sync.config import get_settings
    from nexus_sync.outbox import store
    from tests.outbox.test_outages import DEAD, until
    from tests.pipeline.helpers import run_inline

    conn = make_connector(sim, "okta", page_size=100)
    monkeypatch.setattr(get_settings(), "clickhouse_url", f"http://default:x@{DEAD}")  # nothing drains yet
    with monkeypatch.context() as old:
        old.setattr(store, "pack", lambda value: zlib.compress(orjson.dumps(value), 1))
        hid, report = run_inline(conn.name)
    o = db.outbox.c
    with db.get_engine().connect() as c:
        payloads = c.execute(sa.select(o.payload).where(o.sync_history_id == uuid.UUID(hid),
                                                          o.target == ARCHIVE)).scalars().all()
    assert len(payloads) >= 5 and not any(compress.is_compressed(p) for p in payloads)
    assert compress.is_compressed(store.pack([{"a": 1}]))  # what this release owes
    monkeypatch.setattr(get_settings(), "clickhouse_url", None)
    with db.get_engine().begin() as c:  # forget the backoff of the outage above
        c.execute(db.outbox_targets.delete().where(db.outbox_targets.c.target == ARCHIVE))
    until(lambda: relay.run_archive() and owed_rows(hid, ARCHIVE) == 0)
    assert archive_count(conn.tenant_id) == 450
