"""SIGKILL a worker in the middle of a sync: after a restart the sync completes, nothing lost or doubled."""
from __future__ import annotations

import time
import uuid

import sqlalchemy as sa

from nexus_sync import db
from nexus_sync.cli import run_sync, wait_for
from nexus_sync.dev import procs
from tests.conftest import STATE, worker_env
from tests.pipeline.helpers import raw_rows


def test_sigkill_mid_sync_then_restart_completes_exactly(stack, secrets_file, make_connector):
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=21, sizes={"crowdstrike": 3000})).start()
    log = STATE / "logs" / "kill-worker.log"
    worker = procs.start_worker(log, env=worker_env(), concurrency=2, name="victim")
    replacement = None
    try:
        s.set_faults("crowdstrike", slow_ms=150)
        conn = make_connector(s, "crowdstrike", page_size=100)  # 30 pages
        hid = run_sync(conn.name, wait=False)["sync_hid"]
        deadline = time.monotonic() + 60
        persisted = 0
        while time.monotonic() < deadline and persisted < 5:
            with db.get_engine().connect() as c:
                persisted = c.execute(sa.select(sa.func.count()).where(
                    db.sync_batches.c.sync_history_id == uuid.UUID(hid))).scalar_one()
            time.sleep(0.05)
        assert 5 <= persisted < 30, "the kill must land mid-sync"
        worker.kill()  # SIGKILL to the worker and its pool children
        worker.popen.wait(10)
        with db.get_engine().connect() as c:
            status = c.execute(sa.select(db.sync_history.c.status).where(
                db.sync_history.c.id == uuid.UUID(hid))).scalar()
        assert status == "RUNNING"
        s.set_faults("crowdstrike", slow_ms=0)
        replacement = procs.start_worker(log, env=worker_env(), concurrency=2, name="replacement")
        report = wait_for(hid, 180, progress=False)
        assert report["status"] == "SUCCESS"
        rows = raw_rows(conn.tenant_id)
        ids = [r.source_id for r in rows]
        assert len(ids) == len(set(ids)) == 3000  # no duplicate
        assert set(ids) == set(s.truth("crowdstrike"))  # no missing
        assert report["records"]["new"] == 3000
    finally:
        worker.stop()
        if replacement:
            replacement.stop()
        s.stop()
