"""Closing a sync, in one place: counts, completeness, status, cursor (only when there is no gap and no short
listing), lifecycle, report, sync_history, and its announcements owed (Kafka events, webhook deliveries: the
outbox, in the same transaction), then breaker and lock — returned as one typed outcome for what follows
(nexus_sync.pipeline.announce). A sync closes once its batches are persisted: archive and announcements
catch up through the outbox relay, so ClickHouse or Kafka being down never holds a sync open."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from nexus_sync import breaker, catalog, db
from nexus_sync.pipeline import lifecycle
from nexus_sync.pipeline.completeness import Completeness, read_completeness
from nexus_sync.pipeline.context import SyncContext, load
from nexus_sync.pipeline.ids import iso, utcnow
from nexus_sync.pipeline.ledger import MAX_REPORTED_INVALID, finished
from nexus_sync.pipeline.owing import owe_announcements
from nexus_sync.pipeline.starting import release_lock


@dataclass(frozen=True)
class Closed:
    """A closed sync: its report, and the `connector.sync.complete` event when this close owed it (None when
    an earlier close already did for this outcome: notify ran twice)."""

    sync_hid: str
    report: dict[str, Any]
    event: dict[str, Any] | None
    started_at: datetime
    completed_at: datetime


def close_sync(sync_hid: str) -> Closed | None:
    """Close the sync once all its batches are persisted or failed (None before that). Run again, it changes
    nothing and owes its announcements only if no close has owed them for this outcome yet."""
    ctx = load(sync_hid)
    if not finished(ctx):
        return None
    with db.get_engine().begin() as conn:
        run = conn.execute(sa.select(db.sync_runs).where(db.sync_runs.c.sync_history_id == ctx.sync_hid)
                           .with_for_update()).one()
        tally = _tally(conn, ctx.sync_hid)
        sh = db.sync_history.c
        current = conn.execute(sa.select(sh.status, sh.records_new, sh.records_updated, sh.error_details,
                                         sh.completed_at).where(sh.id == ctx.sync_hid)).one()
        details = current.error_details or {}
        repeat = bool(current.status == tally.status and current.records_new == tally.new
                      and current.records_updated == tally.updated and details)
        if repeat:  # closed already (the task ran twice): nothing new to write
            report, completed = details.get("report"), current.completed_at
            changes = lifecycle.Changes.of(details.get("lifecycle"))
        else:
            completed = utcnow()
            changes = lifecycle.apply(conn, ctx, complete=tally.complete)
            report = _write_close(conn, ctx, run, tally, completed, changes, details)
        event = None
        if report is not None and run.event_published_status != tally.status:  # owed once per outcome
            event = owe_announcements(conn, ctx, report, changes, completed)
            conn.execute(db.sync_runs.update().where(db.sync_runs.c.sync_history_id == ctx.sync_hid)
                         .values(event_published_status=tally.status))
    if not repeat:
        breaker.record(ctx.connector.id, tally.status)
    release_lock(ctx.connector.id, sync_hid)  # the next sync may start while this one's event goes out
    if report is None:  # closed before it had a report (start_sync dead-lettered)
        return None
    return Closed(sync_hid, report, event, ctx.started_at, completed)


@dataclass
class _Tally:
    """What the batches add up to."""

    failed: int
    persisted: int
    new: int
    updated: int
    unchanged: int
    invalid: int
    cursor: str | None
    errors: list[dict[str, Any]] = field(default_factory=list)
    invalid_records: list[dict[str, Any]] = field(default_factory=list)
    merged: int = 0
    merged_records: list[dict[str, Any]] = field(default_factory=list)
    follow_up: dict[str, int] = field(default_factory=dict)
    completeness: Completeness = field(default_factory=Completeness)

    @property
    def status(self) -> str:
        if self.persisted == 0 and self.failed:
            return "FAILED"
        return "PARTIAL" if self.failed or self.invalid or self.completeness.short else "SUCCESS"

    @property
    def complete(self) -> bool:
        """Proof that the vendor listed everything it holds: no gap, no record refused, every total met, and
        a full listing (not from a saved cursor). Only then may an unseen row be called missing."""
        return self.status == "SUCCESS" and self.completeness.full


def _tally(conn: sa.Connection, hid: uuid.UUID) -> _Tally:
    sb = db.sync_batches.c
    agg = conn.execute(sa.select(
        sa.func.count().filter(sb.status == "FAILED").label("failed"),
        sa.func.count().filter(sb.status == "PERSISTED").label("persisted"),
        sa.func.coalesce(sa.func.sum(sb.records_new), 0).label("new"),
        sa.func.coalesce(sa.func.sum(sb.records_updated), 0).label("updated"),
        sa.func.coalesce(sa.func.sum(sb.records_unchanged), 0).label("unchanged"),
        sa.func.coalesce(sa.func.sum(sb.records_invalid), 0).label("invalid"),
        sa.func.max(sb.max_cursor).label("cursor"),
    ).where(sb.sync_history_id == hid)).one()
    tally = _Tally(agg.failed, agg.persisted, agg.new, agg.updated, agg.unchanged, agg.invalid, agg.cursor)
    tally.completeness = read_completeness(conn, hid)
    tally.errors = [{"batch": f.batch_no, "error": (f.details or {}).get("error")} for f in conn.execute(
        sa.select(sb.batch_no, sb.details).where(sb.sync_history_id == hid, sb.status == "FAILED")
        .order_by(sb.batch_no))]
    # what the batches say of single records: the invalid ones, and the merged ones (with their count)
    noted = conn.execute(sa.select(sb.batch_no, sb.details).where(
        sb.sync_history_id == hid, sa.or_(sb.records_invalid > 0, sb.details["duplicates_in_batch"]
                                          .as_integer() > 0)).order_by(sb.batch_no)).all()
    tally.invalid_records = [dict(inv, batch=r.batch_no) for r in noted
                             for inv in (r.details or {}).get("invalid", [])][:MAX_REPORTED_INVALID]
    tally.merged_records = [dict(m, batch=r.batch_no) for r in noted
                            for m in (r.details or {}).get("merged", [])][:MAX_REPORTED_INVALID]
    tally.merged = sum(int((r.details or {}).get("duplicates_in_batch") or 0) for r in noted)
    for (extra,) in conn.execute(sa.select(sb.details["follow_up"]).where(
            sb.sync_history_id == hid, sb.details.has_key("follow_up"))):
        for k, v in (extra or {}).items():
            tally.follow_up[k] = tally.follow_up.get(k, 0) + int(v)
    return tally


def _write_close(conn: sa.Connection, ctx: SyncContext, run: Any, tally: _Tally, completed: datetime,
                 changes: lifecycle.Changes, details: dict[str, Any]) -> dict[str, Any]:
    """Save the cursor (never past a gap or a short listing) and close sync_history with the report (beside
    what fetch recorded, and the lifecycle's ids until its events are out); returns the report."""
    if not tally.failed and not tally.completeness.short and tally.cursor:
        stmt = pg_insert(db.connector_state).values(connector_id=ctx.connector.id, stream=ctx.vendor.stream,
                                                    cursor=tally.cursor, sync_id=ctx.sync_id)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["connector_id", "stream"],
            set_={"cursor": stmt.excluded.cursor, "sync_id": stmt.excluded.sync_id, "updated_at": sa.func.now()},
            where=sa.or_(db.connector_state.c.cursor.is_(None),
                         db.connector_state.c.cursor < stmt.excluded.cursor)))
    duration_ms = int((completed - ctx.started_at).total_seconds() * 1000)
    processed = tally.new + tally.updated + tally.unchanged
    interval = catalog.interval_seconds(ctx.connector.interval)
    next_at = completed + timedelta(seconds=interval) if interval else None
    pages = run.pages_total or 0
    report = {
        "sync_id": ctx.sync_id, "connector": ctx.connector.name, "connector_id": str(ctx.connector.id),
        "status": tally.status, "duration_ms": duration_ms,
        "records": {"processed": processed, "new": tally.new, "updated": tally.updated,
                    "unchanged": tally.unchanged, "invalid": tally.invalid, "merged": tally.merged},
        "records_per_second": round(processed / max(duration_ms / 1000, 1e-3), 1),
        "pages": pages, "pages_failed": tally.failed,
        "success_rate": round(100.0 * (pages - tally.failed) / pages, 1) if pages else 100.0,
        "errors": tally.errors, "invalid_records": tally.invalid_records, "merged_records": tally.merged_records,
        "cursor": tally.cursor, "next_sync_at": iso(next_at) if next_at else None, "trigger": run.trigger,
    }
    if tally.follow_up:
        report["follow_up"] = tally.follow_up  # e.g. TheHive → risks: created, updated, skipped_low_medium
    report["completeness"] = tally.completeness.endpoints
    if tally.completeness.short:
        report["reason"] = tally.completeness.reason()
    report["lifecycle"] = changes.counts()
    conn.execute(db.sync_history.update().where(db.sync_history.c.id == ctx.sync_hid).values(
        status=tally.status, records_processed=processed, records_new=tally.new, records_updated=tally.updated,
        errors_count=tally.failed + tally.invalid, duration_ms=duration_ms, completed_at=completed,
        next_sync_at=next_at, error_details={**details, "report": report, "lifecycle": changes.ids()}))
    return report
