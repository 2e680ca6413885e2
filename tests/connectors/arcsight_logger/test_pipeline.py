"""A Logger sync through the real tasks on the real stack — run eagerly in this process, then in a real worker
process through the broker: each running search re-queues its fetch with the poll as countdown, the one session
travels sealed from task to task, the sync ends logged out with its search closed, every event lands, the cursor
moves to the window's end — and the session token appears in no Celery message, Redis key or value, database row
or log line (the worker's log file included)."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

import orjson
import pytest

from nexus_sync import db, runs
from nexus_sync.cli import run_sync, wait_for
from nexus_sync.dev import procs
from nexus_sync.redis_client import get_redis
from tests.conftest import STATE, worker_env
from tests.pipeline.helpers import cursor_of, raw_rows
from tests.redis_monitor import RedisMonitor
from tests.security import canary

VENDOR = "arcsight_logger"


@pytest.fixture(scope="module")
def sim():
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=11, sizes={VENDOR: 40})).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def worker(stack, secrets_file):
    proc = procs.start_worker(WORKER_LOG, env=worker_env(), concurrency=2)
    yield proc
    proc.stop()


WORKER_LOG = STATE / "logs" / "arcsight-logger-worker.log"


def scan_for(token: str, stores: list[tuple[str, list[tuple[str, bytes | str]]]]) -> list[canary.StoreScan]:
    """The token searched (in every derived form: url-encoded, JSON-escaped, inside base64) in the given texts,
    live Redis and every PostgreSQL table."""
    marks = canary.Canaries()
    marks.add("Logger session token", token)
    finder = marks.finder()
    assert finder.find(b"x" + token.encode())  # the scan sees the token where it is
    return [*(canary.scan_texts(finder, name, "items", items) for name, items in stores),
            canary.scan_redis(finder, get_redis()), *canary.scan_postgres(finder, db.get_engine())]


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
    scans = scan_for(token, [("celery messages", [(str(n), orjson.dumps(m)) for n, (m, _) in enumerate(messages)]),
                             ("logs", [(r.name, r.getMessage()) for r in caplog.records])])
    assert not [hit for scan in scans for hit in scan.hits], canary.table(scans)


def test_a_sync_in_a_worker_process_through_the_broker(sim, make_connector, worker):
    sim.reset(VENDOR)
    conn = make_connector(sim, VENDOR, page_size=15)
    with RedisMonitor() as monitor:  # every command Redis runs meanwhile: broker messages, frontier, staging
        report = wait_for(run_sync(conn.name, wait=False)["sync_hid"], 120, progress=False)
    commands = monitor.commands
    assert report["status"] == "SUCCESS" and report["records"]["new"] == 40
    st = sim.vendor(VENDOR).get_stats()
    assert st["logins"] == st["logouts"] == 1 and st["live_sessions"] == st["live_searches"] == 0
    assert sum("tasks.sync.fetch" in c for c in commands) >= 4  # the fetch messages were seen
    [token] = sim.vendor(VENDOR).issued
    scans = scan_for(token, [("redis commands", [(str(n), c) for n, c in enumerate(commands)]),
                             ("worker log", [(str(n), line) for n, line in
                                             enumerate(WORKER_LOG.read_text(errors="replace").splitlines())])])
    assert not [hit for scan in scans for hit in scan.hits], canary.table(scans)
