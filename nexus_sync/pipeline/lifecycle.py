"""Lifecycle, only on proof: after a complete full sync, the connector's rows it did not see get
`missing_since` (the sync's start); rows seen again lose it; past NEXUS_MISSING_RETENTION_DAYS a missing row
is deleted. Never after a PARTIAL, FAILED or incremental sync: a vendor outage must not look like every
asset vanished. One `records.lifecycle` event per sync (in parts of at most NEXUS_LIFECYCLE_CHUNK_IDS ids),
only when something went missing, came back or was deleted.

"Seen in this sync" is exact: `last_seen >= started_at` (seen_from) for the rows persist touched, or the
source id in the sync's set of records seen untouched — an unchanged record whose last_seen was not due
(relatime, pipeline.seen) keeps its older last_seen but was seen all the same."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from nexus_sync import catalog, db, names
from nexus_sync.config import get_settings
from nexus_sync.pipeline import seen
from nexus_sync.pipeline.context import SyncContext
from nexus_sync.pipeline.ids import iso, utcnow
from nexus_sync.redis_client import get_redis

log = logging.getLogger(__name__)
EVENT_TYPE = "records.lifecycle"
CHUNK = 10_000  # source ids per look-up in the sync's untouched set at close
CLOCK_SKEW_SECONDS = 5  # allowance between workers' clocks (NTP keeps them within milliseconds)


@dataclass
class Changes:
    """Source ids of this sync's lifecycle changes; `applied` False when the sync proved nothing missing."""

    applied: bool = False
    missing: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.missing or self.returned or self.deleted)

    def counts(self) -> dict[str, Any]:
        """The report's `lifecycle`."""
        return {"applied": self.applied, "missing": len(self.missing), "returned": len(self.returned),
                "deleted": len(self.deleted)}

    def ids(self) -> dict[str, list[str]]:
        """Kept with the closed sync (sync_history.error_details) until its events are out."""
        return {"missing": self.missing, "returned": self.returned, "deleted": self.deleted}

    @classmethod
    def of(cls, kept: dict[str, Any] | None) -> Changes:
        kept = kept or {}
        return cls(bool(kept), list(kept.get("missing", [])), list(kept.get("returned", [])),
                   list(kept.get("deleted", [])))


def apply(conn: sa.Connection, ctx: SyncContext, complete: bool) -> Changes:
    """In the close's transaction. Rows seen again are cleared after any sync (a record the vendor sent exists);
    rows not seen are marked, and those missing past the retention deleted, only after a complete full sync.
    Seen: last_seen written by this sync, or kept untouched by it (relatime: pipeline.seen)."""
    rd = db.raw_data.c
    mine = (rd.tenant_id == ctx.connector.tenant_id, rd.source == ctx.source)
    written = rd.last_seen >= seen_from(ctx)
    sb = db.sync_batches.c
    persisted = conn.execute(sa.select(sb.batch_no).where(sb.sync_history_id == ctx.sync_hid,
                                                           sb.status == "PERSISTED")).scalars()
    marked = seen.marked(str(ctx.sync_hid), persisted)
    if not marked and complete:  # without the set, rows seen but left untouched would look missing
        log.warning("lifecycle not applied: the sync's set of rows seen untouched is lost",
                    extra={"sync_id": ctx.sync_id})
        complete = False

    def unwritten(missing_since: Any, untouched: bool) -> list[str]:
        """This sync's rows of `missing_since` it did not write, of those the ones it kept untouched (or
        not): streamed from PostgreSQL and asked of Redis by the chunk, never a whole connector in memory."""
        rows = conn.execute(sa.select(rd.source_id).where(*mine, missing_since, ~written),
                            execution_options={"stream_results": True})
        out: list[str] = []
        for part in rows.partitions(CHUNK):
            sids = [sid for (sid,) in part]
            flags = seen.kept(str(ctx.sync_hid), sids) if marked else [False] * len(sids)
            out += [sid for sid, flag in zip(sids, flags) if flag is untouched]
        return out

    changes = Changes(applied=complete)
    back = unwritten(rd.missing_since.is_not(None), untouched=True) if marked else []
    changes.returned = _ids(conn, db.raw_data.update().where(
        *mine, rd.missing_since.is_not(None), sa.or_(written, _among(back)))
        .values(missing_since=None).returning(rd.source_id))
    if not complete:
        return changes
    gone = unwritten(rd.missing_since.is_(None), untouched=False)
    changes.missing = _ids(conn, db.raw_data.update().where(*mine, rd.missing_since.is_(None), ~written, _among(gone))
                           .values(missing_since=ctx.started_at).returning(rd.source_id))
    retention = get_settings().missing_retention_days
    if retention:
        changes.deleted = _ids(conn, db.raw_data.delete().where(
            *mine, rd.missing_since < ctx.started_at - timedelta(days=retention)).returning(rd.source_id))
        if changes.deleted:  # before the commit: a cache that misses falls back to Postgres, one that keeps a
            # deleted row's hash would call its return UNCHANGED and touch a row that is gone
            get_redis().hdel(names.dedup_key(ctx.connector.tenant_id, ctx.source), *changes.deleted)
    return changes


def seen_from(ctx: SyncContext) -> datetime:
    """The earliest last_seen of a row this sync saw. A page's fetched_at (its rows' last_seen) is cut to the
    second (pipeline.ids.iso) and taken on the fetching worker's clock, the start on another's: the sync's
    start, to the second, less CLOCK_SKEW_SECONDS. A row the previous sync saw within that allowance counts
    as seen — it is marked one sync later, never wrongly."""
    return ctx.started_at.replace(microsecond=0) - timedelta(seconds=CLOCK_SKEW_SECONDS)


def _among(sids: list[str]) -> Any:
    """raw_data.source_id in sids, as one array parameter (not one bound parameter per id)."""
    return db.raw_data.c.source_id == sa.any_(sa.bindparam("sids", sids, type_=ARRAY(sa.String)))


def _ids(conn: sa.Connection, stmt: Any) -> list[str]:
    return sorted(str(sid) for (sid,) in conn.execute(stmt))


def events(ctx: SyncContext, changes: Changes, timestamp: str) -> list[dict[str, Any]]:
    """The sync's `records.lifecycle` event in parts of at most lifecycle_chunk_ids ids of each list; none when
    nothing changed."""
    if not changes.any:
        return []
    size = get_settings().lifecycle_chunk_ids
    lists = changes.ids()
    parts = max(1, math.ceil(max(len(v) for v in lists.values()) / size))
    head = {"event_type": EVENT_TYPE, "connector": ctx.connector.name, "connector_id": str(ctx.connector.id),
            "sync_id": ctx.sync_id, "tenant_id": str(ctx.connector.tenant_id),
            **{k: len(v) for k, v in lists.items()}, "parts": parts, "timestamp": timestamp}
    return [{**head, "part": n + 1, **{f"{k}_ids": v[n * size:(n + 1) * size] for k, v in lists.items()}}
            for n in range(parts)]


def stale(connector: str, days: float) -> list[dict[str, Any]]:
    """The connector's rows missing for at least `days` days, longest missing first (`records stale`)."""
    row = catalog.get(connector)
    rd = db.raw_data.c
    since = utcnow() - timedelta(days=days)
    with db.get_engine().connect() as conn:
        rows = conn.execute(sa.select(rd.source_id, rd.type, rd.missing_since, rd.last_seen).where(
            rd.tenant_id == row.tenant_id, rd.source == row.name, rd.missing_since.is_not(None),
            rd.missing_since <= since).order_by(rd.missing_since, rd.source_id)).all()
    return [{"source_id": r.source_id, "type": r.type, "missing_since": iso(r.missing_since),
             "last_seen": iso(r.last_seen)} for r in rows]
