"""Start a sync and wait for its outcome: the one way the CLI, the demo, the bench, chaos and recovery start a
sync by hand. A sync's id is chosen here (a UUID; the Celery task id of its start task is the same), so the
caller can follow it in sync_history before a worker has picked it up."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import sqlalchemy as sa

from nexus_sync import db, names
from nexus_sync.errors import SyncError


class SyncTimeout(SyncError):
    """The sync did not close within the wait."""


@dataclass(frozen=True)
class Progress:
    """Where a running sync stands: batches persisted of the pages fetched so far (None until known)."""

    batches: int
    records: int
    pages: int | None


def trigger(connector: str, reason: str = "manual", *, app: Any = None, sync_hid: str | None = None) -> str:
    """Enqueue a sync of CONNECTOR (its name) now; returns the sync id. `reason` is the report's trigger
    (manual, schedule, recovery-N, bench, chaos, demo). `app`: another Celery app (the bench's own)."""
    if app is None:
        from nexus_sync.celery_app import app
    sync_hid = sync_hid or str(uuid.uuid4())
    app.send_task(names.START_SYNC, kwargs={"connector": connector, "sync_hid": sync_hid, "trigger": reason},
                  task_id=sync_hid)
    return sync_hid


def status(sync_hid: str) -> tuple[str | None, dict[str, Any], Progress]:
    """The sync's status (None before start_sync opened it), its stored details and its progress."""
    sh, sb, sr = db.sync_history.c, db.sync_batches.c, db.sync_runs.c
    hid = uuid.UUID(sync_hid)
    with db.get_engine().connect() as conn:
        row = conn.execute(sa.select(sh.status, sh.error_details).where(sh.id == hid)).first()
        done = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sb.records), 0))
                            .where(sb.sync_history_id == hid)).one()
        pages = conn.execute(sa.select(sr.pages_total).where(sr.sync_history_id == hid)).scalar()
    progress = Progress(int(done[0]), int(done[1]), int(pages) if pages else None)
    if row is None:
        return None, {}, progress
    return row.status, row.error_details or {}, progress


def report_of(sync_hid: str, state: str, details: dict[str, Any]) -> dict[str, Any]:
    """The closed sync's report (what notify stored), or what is known of it."""
    return details.get("report") or {"status": state, "sync_id": sync_hid, **details}


def wait(sync_hid: str, timeout: float = 1800, *, on_progress: Callable[[Progress], None] | None = None,
         poll: float = 0.25) -> dict[str, Any]:
    """Until the sync has closed; returns its report. Raises SyncTimeout after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        state, details, progress = status(sync_hid)
        if state is not None and state != "RUNNING":
            return report_of(sync_hid, state, details)
        if on_progress is not None:
            on_progress(progress)
        if time.monotonic() >= deadline:
            raise SyncTimeout(f"sync {sync_hid} did not finish within {timeout:.0f}s (is a worker running?)")
        time.sleep(poll)
