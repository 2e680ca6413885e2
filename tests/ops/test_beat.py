"""A real `nexus-sync beat` (Celery beat + RedBeat) against the test Redis fires connector schedules, and a
real worker runs the syncs; a changed interval reaches the running beat without a restart; a trigger that
finds the connector's sync running is recorded SKIPPED and the entry stays scheduled."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from nexus_sync import catalog, db
from nexus_sync.dev import procs
from tests.conftest import STATE, worker_env
from tests.ops.conftest import connector
from tests.redis_monitor import RedisMonitor


def name_due_at(prefix: str, slot: datetime) -> str:
    """A connector name whose 1m offset (sha256 of its id mod 60 s) puts a run exactly at `slot`."""
    from nexus_sync.schedule import offset_for

    want = int(slot.timestamp()) % 60
    for i in range(10_000):
        name = f"{prefix}-{i}"
        if offset_for(uuid.uuid5(catalog.NAMESPACE, name), 60) == want:
            return name
    raise AssertionError("no name found")


def syncs_of(connector_id: uuid.UUID) -> list[Any]:
    sh, runs = db.sync_history.c, db.sync_runs.c
    with db.get_engine().connect() as conn:
        return conn.execute(
            sa.select(sh.id, sh.status, sh.error_details, sh.started_at, runs.trigger)
            .outerjoin(db.sync_runs, runs.sync_history_id == sh.id)
            .where(sh.connector_id == connector_id).order_by(sh.started_at)).all()


def pushes(commands: list[str]) -> list[tuple[str, str]]:
    """The LPUSHes to the broker among MONITOR's commands: (key = queue list with its priority suffix, body)."""
    out = []
    for text in commands:
        parts = text.split(" ", 2)
        if parts[0].upper() == "LPUSH" and len(parts) == 3 and not parts[1].startswith("nexus:"):
            out.append((parts[1], parts[2]))
    return out


def test_beat_fires_due_entries_picks_up_changes_and_skips_a_running_connector(sim, secrets_file, ops_worker):
    from nexus_sync import schedule
    from nexus_sync.names import lock_key
    from nexus_sync.redis_client import get_redis

    t0 = datetime.now(timezone.utc).replace(microsecond=0)
    slot = t0 + timedelta(seconds=10)  # beat starts in ~2 s; the interval change comes after that
    run_name, busy_name = name_due_at("ops-beat-run", slot), name_due_at("ops-beat-busy", slot + timedelta(seconds=1))
    # both start on a 24h schedule: nothing due while beat starts
    run = connector(sim, "okta", secrets_file, name=run_name, interval="24h", priority="LOW", page_size=100)
    busy = connector(sim, "okta", secrets_file, name=busy_name, interval="24h", priority="NORMAL")
    run_id, busy_id = catalog.get(run.name).id, catalog.get(busy.name).id
    schedule.reconcile(names=[run.name, busy.name])

    log = STATE / "logs" / "ops-beat.log"
    offset = log.stat().st_size if log.exists() else 0
    beat = procs.Proc("beat", procs.cli("beat", "--no-reconcile", "--max-interval", "1", "-l", "INFO"), log,
                      env={**worker_env(), "NEXUS_SCHEDULE_RECONCILE_SECONDS": "0"})  # only this test's entries
    try:
        procs.wait_until(lambda: beat.alive() and b"Acquired lock" in log.read_bytes()[offset:], 30, "beat", log)
        # a sync of `busy` is running (its lock is held): its trigger must be recorded SKIPPED
        get_redis().set(lock_key(busy_id), "a-sync-already-running", ex=120)

        # the interval change reaches the running beat through Redis: no restart
        connector(sim, "okta", secrets_file, name=run.name, interval="1m", priority="LOW", page_size=100)
        connector(sim, "okta", secrets_file, name=busy.name, interval="1m", priority="NORMAL")
        assert sorted(schedule.reconcile(names=[run.name, busy.name]).updated) == sorted([run.name, busy.name])
        app = schedule._app()
        due_run = schedule.next_run(schedule.load_entry(app, f"connector:{run.name}"))
        due_busy = schedule.next_run(schedule.load_entry(app, f"connector:{busy.name}"))
        assert (int(due_run.timestamp()) - int(slot.timestamp())) % 60 == 0 and due_busy > due_run
        assert due_run - datetime.now(timezone.utc) < timedelta(seconds=61)

        with RedisMonitor() as watcher:
            deadline = time.monotonic() + 100  # normally ~15 s; a slow start costs one more minute
            done = skipped = None
            while time.monotonic() < deadline and not (done and skipped):
                done = next((s for s in syncs_of(run_id) if s.status not in ("RUNNING",)), None)
                skipped = next((s for s in syncs_of(busy_id) if s.status == "SKIPPED"), None)
                time.sleep(0.25)
            assert done is not None and skipped is not None, log.read_text()[offset:][-3000:]
            hid = str(done.id)  # the chain's last push (notify) may land just after the sync's status
            watcher.wait_until(lambda cmds: any(hid in b and '"tasks.sync.notify"' in b for _, b in pushes(cmds)))

        # beat sent the entry at its slot, the worker ran the whole sync
        assert done.status == "SUCCESS" and done.trigger == "schedule"
        assert abs((done.started_at.replace(tzinfo=timezone.utc) - due_run).total_seconds()) < 5
        text = log.read_text()[offset:]
        assert f"Sending due task connector:{run.name} (tasks.sync.start_sync)" in text

        # the trigger that found the lock held: SKIPPED with the reason, no sync started
        assert "already running" in skipped.error_details["reason"]
        assert [s.status for s in syncs_of(busy_id)] == ["SKIPPED"]
        # ... and the next run stays scheduled: same entry, next slot one interval later
        entry = schedule.load_entry(app, f"connector:{busy.name}")
        assert entry is not None and schedule.next_run(entry) == due_busy + timedelta(seconds=60)
        assert schedule.next_run(schedule.load_entry(app, f"connector:{run.name}")) == due_run + timedelta(seconds=60)

        # LOW priority (6) from the entry travels with the whole chain (task_inherit_parent_priority)
        mine = [(key, body) for key, body in pushes(watcher.commands) if hid in body]
        names = {n for n in ("start_sync", "fetch", "normalize", "dedup", "persist", "notify")
                 if any(f'"tasks.sync.{n}"' in body for _, body in mine)}
        assert names == {"start_sync", "fetch", "normalize", "dedup", "persist", "notify"}, names
        # (the outbox relay persist kicks goes to the archive queue, at the same priority)
        assert r"sync\x06\x166" in {key for key, _ in mine} <= {r"sync\x06\x166", r"archive\x06\x166"}
    finally:
        beat.stop()
        get_redis().delete(lock_key(busy_id))
