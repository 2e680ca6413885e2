"""A Logger sync through the real tasks (run eagerly in this process) on the real stack: each running search
re-queues its fetch with the poll as countdown, the one session travels sealed from task to task, the sync ends
logged out with its search closed, every event lands, the cursor moves to the window's end — and the session
token appears in no Celery message, Redis key or value, database row or log line."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

import orjson
import pytest

from nexus_sync import db, runs
from nexus_sync.redis_client import get_redis
from tests.pipeline.helpers import cursor_of, raw_rows
from tests.security import canary

VENDOR = "arcsight_logger"


@pytest.fixture(scope="module")
def sim():
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=11, sizes={VENDOR: 40})).start()
    yield s
    s.stop()


def test_a_sync_hands_the_session_on_sealed_and_never_shows_its_token(sim, make_connector, monkeypatch, caplog):
    from nexus_sync.celery_app import app
    from tasks import sync as sync_tasks

    caplog.set_level(logging.DEBUG)
    conn = make_connector(sim, VENDOR, page_size=15)
    messages: list[tuple[dict[str, Any], float | None]] = []
    real_apply = sync_tasks.fetch.apply_async

    def apply_async(args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        messages.append((dict(kwargs or {}), options.get("countdown")))
        return real_apply(args, kwargs, **options)

    monkeypatch.setattr(sync_tasks.fetch, "apply_async", apply_async)
    eager = ("task_always_eager", "task_eager_propagates")
    saved = {k: app.conf[k] for k in eager}
    app.conf.update(dict.fromkeys(eager, True))
    hid = str(uuid.uuid4())
    try:
        sync_tasks.start_sync.delay(connector=conn.name, sync_hid=hid, trigger="test")
    finally:
        app.conf.update(saved)
    report = runs.wait(hid, timeout=30)

    assert report["status"] == "SUCCESS" and report["records"]["new"] == 40 and report["pages"] == 3
    assert {r.source_id for r in raw_rows(conn.tenant_id)} == set(sim.truth(VENDOR))
    cursor = datetime.fromisoformat(str(cursor_of(conn.id)))
    assert abs(datetime.now(cursor.tzinfo).timestamp() - 60 - cursor.timestamp()) < 60  # now less the lag
    # the running search re-queued the same batch twice, with the poll as countdown; every later state is sealed
    assert [(m["batch_no"], c) for m, c in messages if c is not None] == [(0, 2.0), (0, 2.0)]
    assert all(m["state"]["sealed"] for m, _ in messages if m.get("state"))
    st = sim.vendor(VENDOR).get_stats()
    assert st["logins"] == st["logouts"] == 1 and st["searches"] == st["closes"] == 1
    assert st["live_sessions"] == st["live_searches"] == 0

    [token] = sim.vendor(VENDOR).issued
    marks = canary.Canaries()
    marks.add("Logger session token", token)
    finder = marks.finder()
    sent = [orjson.dumps(m) for m, _ in messages]
    assert finder.find(sent[0] + token.encode())  # the scan sees the token where it is
    scans = [canary.scan_texts(finder, "celery messages", "messages", [(str(n), m) for n, m in enumerate(sent)]),
             canary.scan_redis(finder, get_redis()), *canary.scan_postgres(finder, db.get_engine()),
             canary.scan_texts(finder, "logs", "lines", [(r.name, r.getMessage()) for r in caplog.records])]
    assert not [hit for scan in scans for hit in scan.hits], canary.table(scans)
