"""Opening a sync: the connector's lock, its sync_history row RUNNING, the cursor it starts from; and the
lock's release, by whoever ends the sync."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from nexus_sync import breaker, catalog, db, names
from nexus_sync.config import get_settings
from nexus_sync.credentials import redact
from nexus_sync.errors import ConfigError
from nexus_sync.pipeline.ahead import record_sent
from nexus_sync.pipeline.context import Frontier, mark_progress, set_frontier
from nexus_sync.pipeline.ids import utcnow
from nexus_sync.redis_client import get_redis, text

log = logging.getLogger(__name__)


@dataclass
class StartResult:
    sync_hid: str
    skipped: bool
    reason: str | None = None
    since: str | None = None


def start(connector_ref: str, sync_hid: str, trigger: str = "manual") -> StartResult:
    """Take the connector's lock and open sync_history RUNNING; a held lock records a SKIPPED run."""
    row = catalog.get(connector_ref)
    hid = uuid.UUID(sync_hid)
    if not row.enabled:
        return _skip(row, hid, "connector is disabled")
    verdict = breaker.check(row.id, sync_hid)
    if not verdict.allowed:
        return _skip(row, hid, verdict.reason or "circuit open")
    r = get_redis()
    key = names.lock_key(row.id)
    if not r.set(key, sync_hid, nx=True, ex=get_settings().lock_ttl_seconds):
        held = r.get(key)
        holder = text(held) if held is not None else None
        if holder != sync_hid:
            return _skip(row, hid, f"a sync of this connector is already running ({holder or '?'})")
    since = None
    with db.get_engine().begin() as conn:
        ended = conn.execute(sa.select(db.sync_history.c.status).where(
            db.sync_history.c.id == hid, db.sync_history.c.status != "RUNNING")).scalar()
        if ended:  # this start message came back after its sync ended (redelivery): nothing to do
            release_lock(row.id, sync_hid)
            return StartResult(sync_hid, True, f"sync already ended {ended}")
        conn.execute(pg_insert(db.sync_history).values(
            id=hid, tenant_id=row.tenant_id, connector_id=row.id, sync_id=f"sync-{hid.hex}", status="RUNNING",
            records_processed=0, records_new=0, records_updated=0, errors_count=0, duration_ms=0,
            started_at=utcnow(),
        ).on_conflict_do_nothing())
        runs = conn.execute(sa.select(sa.func.count()).select_from(db.sync_history).where(
            db.sync_history.c.connector_id == row.id, db.sync_history.c.status != "SKIPPED")).scalar_one()
        conn.execute(pg_insert(db.sync_runs).values(
            sync_history_id=hid, sync_run=runs, trigger=trigger).on_conflict_do_nothing())
        if row.config.get("incremental"):
            since = _usable_cursor(conn, row, conn.execute(sa.select(db.connector_state.c.cursor).where(
                db.connector_state.c.connector_id == row.id)).scalar())
    set_frontier(sync_hid, Frontier(0, None, since))
    record_sent(sync_hid, Frontier(0, None, since))
    mark_progress(sync_hid)
    return StartResult(sync_hid, False, since=since)


def _skip(row: catalog.ConnectorRow, sync_hid: uuid.UUID, reason: str) -> StartResult:
    """Record a SKIPPED run (it took no lock)."""
    now = utcnow()
    with db.get_engine().begin() as conn:
        conn.execute(pg_insert(db.sync_history).values(
            id=sync_hid, tenant_id=row.tenant_id, connector_id=row.id, sync_id=f"sync-{sync_hid.hex}",
            status="SKIPPED", records_processed=0, records_new=0, records_updated=0, errors_count=0,
            duration_ms=0, error_details={"reason": reason}, started_at=now, completed_at=now,
        ).on_conflict_do_nothing())
    return StartResult(str(sync_hid), True, reason)


def _usable_cursor(conn: sa.Connection, row: catalog.ConnectorRow, saved: str | None) -> str | None:
    """The saved cursor, re-parsed; one that does not parse (a bad value saved by an older version) must not
    freeze incremental syncs: it is cleared, this sync runs full and its own cursor is saved after it."""
    try:
        return row.instance().saved_cursor(saved)
    except ConfigError as exc:
        log.warning("%s; cleared, running a full sync instead", exc)
        conn.execute(db.connector_state.update().where(db.connector_state.c.connector_id == row.id)
                     .values(cursor=None))
        return None


def start_failed(connector_ref: str, sync_hid: str, error: str) -> None:
    """start_sync itself was dead-lettered: close the run as FAILED (if it was opened) and free the lock."""
    hid = uuid.UUID(sync_hid)
    with db.get_engine().begin() as conn:
        conn.execute(db.sync_history.update().where(db.sync_history.c.id == hid,
                                                     db.sync_history.c.status == "RUNNING").values(
            status="FAILED", completed_at=utcnow(), error_details={"errors": [redact(error)[:1000]]}))
    try:
        row = catalog.get(connector_ref)
    except ConfigError:  # an unknown connector (often the very failure) holds no lock
        return
    release_lock(row.id, sync_hid)


def release_lock(connector_id: Any, sync_hid: str) -> None:
    """Delete the connector's lock, only if this sync holds it."""
    get_redis().eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
                     "return 0", 1, names.lock_key(connector_id), sync_hid)
