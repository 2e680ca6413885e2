"""The Celery chain in a real worker process on the real stack."""
from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa

from nexus_sync import db
from nexus_sync.cli import run_sync, wait_for
from nexus_sync.dev import procs
from nexus_sync.redis_client import get_redis
from tests.conftest import STATE, worker_env
from tests.pipeline.helpers import archived, cursor_of, raw_rows
from tests.redis_monitor import RedisMonitor


@pytest.fixture(scope="module")
def worker(stack, secrets_file):
    proc = procs.start_worker(STATE / "logs" / "tasks-worker.log", env=worker_env(), concurrency=2)
    yield proc
    proc.stop()


def sync(name: str, timeout: float = 120) -> dict:
    hid = run_sync(name, wait=False)["sync_hid"]
    return wait_for(hid, timeout, progress=False)


def test_two_connectors_sync_end_to_end(sim, make_connector, worker):
    cs, okta = make_connector(sim, "crowdstrike", page_size=400), make_connector(sim, "okta", page_size=100)
    hids = [run_sync(c.name, wait=False)["sync_hid"] for c in (cs, okta)]
    reports = [wait_for(h, 120, progress=False) for h in hids]
    assert [r["status"] for r in reports] == ["SUCCESS", "SUCCESS"]
    assert reports[0]["records"]["new"] == 1200 and reports[1]["records"]["new"] == 450
    assert {r.source_id for r in raw_rows(cs.tenant_id)} == set(sim.truth("crowdstrike"))
    assert {r.source_id for r in raw_rows(okta.tenant_id)} == set(sim.truth("okta"))
    assert cursor_of(cs.id) and cursor_of(okta.id)
    assert archived(cs.tenant_id, 1200) == 1200  # the outbox relay, kicked by persist, archives it
    deadline = time.monotonic() + 5  # the lock is released right after sync_history closes
    while get_redis().get(f"nexus:lock:connector:{cs.id}") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert get_redis().get(f"nexus:lock:connector:{cs.id}") is None


def test_no_broker_message_carries_record_payloads(sim, make_connector, worker):
    conn = make_connector(sim, "okta", page_size=100)
    truth = sim.truth("okta")
    broker = RedisMonitor(keep=lambda text: text.startswith(("LPUSH", "RPUSH")) and "nexus:" not in text)
    with broker:
        report = sync(conn.name)
    pushed = [text.encode() for text in broker.commands]
    assert report["status"] == "SUCCESS"
    assert len(pushed) >= 4 * 5  # the chain's messages were seen
    emails = [u["profile"]["email"] for u in truth.values()]
    for msg in pushed:
        assert len(msg) < 8000, "broker message too big for a reference"
        assert not any(e.encode() in msg for e in emails[:200]), "a record travelled through the broker"
        assert b"sim-okta-token" not in msg


@pytest.mark.parametrize("stored", ["kwargs", "positional (previous release)"])
def test_failing_task_is_dead_lettered_and_replays(stack, secrets_file, make_connector, worker, stored):
    from nexus_sync import dlq
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=11, sizes={"crowdstrike": 300})).start()
    try:
        s.set_faults("crowdstrike", broken_paths=["/devices/entities/devices/v2"])
        conn = make_connector(s, "crowdstrike", page_size=100)
        report = sync(conn.name)
        assert report["status"] == "FAILED" and report["errors"]
        entries = dlq.list_entries(connector_id=conn.id)
        assert [e.task_name for e in entries] == ["tasks.sync.fetch"]
        entry = entries[0]
        assert entry.args == [] and entry.kwargs["batch_no"] == 0 and entry.kwargs["sync_hid"] == str(
            entry.sync_history_id)
        assert entry.retries == 3 and "500" in entry.error
        assert "TransientError" in entry.exception_type and entry.traceback
        assert raw_rows(conn.tenant_id) == []
        if stored != "kwargs":  # as the previous release stored it: (sync_hid, batch_no, state, since)
            k = entry.kwargs
            with db.get_engine().begin() as c:
                c.execute(db.dead_letters.update().where(db.dead_letters.c.id == entry.id).values(
                    args=[k["sync_hid"], k["batch_no"], k["state"], k["since"]], kwargs={}))

        s.set_faults("crowdstrike", broken_paths=[])
        dlq.replay(str(entry.id))
        hid = str(entry.sync_history_id)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with db.get_engine().connect() as c:
                status = c.execute(sa.select(db.sync_history.c.status)
                                   .where(db.sync_history.c.id == uuid.UUID(hid))).scalar()
            if status == "SUCCESS":
                break
            time.sleep(0.3)
        assert status == "SUCCESS"
        assert {r.source_id for r in raw_rows(conn.tenant_id)} == set(s.truth("crowdstrike"))
        assert dlq.list_entries(connector_id=conn.id) == []  # replayed entries leave the waiting list
    finally:
        s.stop()


def test_missing_secret_fails_fast_naming_it(stack, make_connector, worker, sim, secrets_file):
    from nexus_sync import catalog

    conn = make_connector(sim, "okta")
    spec = catalog.ConnectorSpec(name=conn.name + "-nosecret", type="okta", tenant_id=uuid.uuid4(),
                                 config={"base_url": sim.base_url("okta")})
    catalog.apply([spec])
    started = time.monotonic()
    report = sync(spec.name, timeout=60)
    assert report["status"] == "FAILED"
    assert time.monotonic() - started < 20  # config errors are not retried
    assert "missing secret(s) token" in str(report)


def test_secrets_never_reach_logs_or_the_database(sim, make_connector, worker):
    from tests.conftest import SIM_SECRETS

    conn = make_connector(sim, "crowdstrike", page_size=600)
    assert sync(conn.name)["status"] == "SUCCESS"
    secrets = [v for vendor in SIM_SECRETS.values() for v in vendor.values()]
    log_text = worker.log.read_text()
    assert "tasks.sync.persist" in log_text  # the log is the worker's
    for secret in secrets:
        assert secret not in log_text
    with db.get_engine().connect() as c:
        for table in ("connectors", "sync_history", "sync_batches", "dead_letters", "connector_state"):
            dump = " ".join(str(tuple(r)) for r in c.execute(sa.text(f"SELECT * FROM {table}")))
            for secret in secrets:
                assert secret not in dump, (table, secret)


def test_worker_logs_are_json_lines_with_the_sync_context(sim, make_connector, worker):
    import json

    conn = make_connector(sim, "okta", page_size=150)
    report = sync(conn.name)
    wanted = {"fetch", "normalize", "dedup", "persist", "notify"}

    def stages_logged() -> list[dict]:
        lines = [json.loads(line) for line in worker.log.read_text().splitlines() if line.startswith("{")]
        return [entry for entry in lines if entry.get("event") == "stage done"
                and entry.get("sync_id") == report["sync_id"]]

    # the report is in the database before notify's "stage done" line is written: wait for the line itself
    deadline = time.monotonic() + 60
    stages = stages_logged()
    while not {e["stage"] for e in stages} >= wanted and time.monotonic() < deadline:
        time.sleep(0.2)
        stages = stages_logged()
    assert {e["stage"] for e in stages} >= wanted
    for e in stages:
        assert e["connector"] == conn.name and e["connector_id"] == str(conn.id)
        assert e["tenant_id"] == str(conn.tenant_id) and e["ms"] >= 0 and e["timestamp"].endswith("Z")
    persisted = [e for e in stages if e["stage"] == "persist"]
    assert sum(e.get("new", 0) for e in persisted) == 450


@pytest.mark.parametrize("lost", ["the next fetch and batch 0's chain", "batch 0's persist"])
def test_a_sync_whose_messages_were_lost_is_resumed_and_completes(sim, make_connector, worker, lost):
    """A Redis broker that restarts as a worker pops a message loses it, and the chain stops with nothing queued
    (seen under `make chaos`). resume_stalled finds the sync by its silence and sends, from what is durable,
    the steps that move it on; the sync then ends SUCCESS with every record, none twice."""
    from nexus_sync import pipeline
    from tasks.sync import resume_stalled

    conn = make_connector(sim, "crowdstrike", page_size=500)
    hid = str(uuid.uuid4())
    pipeline.start(conn.name, hid, "test")
    pipeline.fetch(hid, 0, None, None)  # page 0 fetched and staged; the messages that follow it "are lost"
    if lost == "batch 0's persist":
        pipeline.normalize(hid, 0)
        pipeline.dedup(hid, 0)
    assert hid not in pipeline.stalled(3600)  # it just moved: not stalled yet
    plan = pipeline.resume_plan(hid)
    first = "normalize" if lost.startswith("the next") else "persist"
    assert plan[0] == pipeline.ResumeBatch(0, first)
    assert isinstance(plan[1], pipeline.ResumeFetch) and plan[1].batch_no == 1
    assert hid in pipeline.stalled(0)
    out = resume_stalled(0)
    assert hid in out["resumed"]
    report = wait_for(hid, 120, progress=False)
    assert report["status"] == "SUCCESS" and report["records"]["new"] == 1200
    rows = raw_rows(conn.tenant_id)
    assert len(rows) == 1200 and {r.source_id for r in rows} == set(sim.truth("crowdstrike"))
    assert archived(conn.tenant_id, 1200) == 1200


def test_a_stalled_sync_whose_staged_page_is_gone_ends_with_the_gap_reported(sim, make_connector, worker):
    from nexus_sync import pipeline, staging
    from tasks.sync import resume

    conn = make_connector(sim, "sentinelone", page_size=1000)  # one page (crowdstrike has a hidden-hosts pass)
    hid = str(uuid.uuid4())
    pipeline.start(conn.name, hid, "test")
    pipeline.fetch(hid, 0, None, None)
    staging.drop(hid, 0)  # the staged page expired before anything ran
    assert pipeline.resume_plan(hid) == [pipeline.LostBatch(0, "its staged data is gone (expired or lost) before "
                                                               "it was persisted")]
    resume(hid)
    report = wait_for(hid, 60, progress=False)
    assert report["status"] == "FAILED" and report["pages_failed"] == 1
    assert "staged data is gone" in report["errors"][0]["error"]
