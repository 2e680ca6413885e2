"""The sync pipeline's stages as plain functions; tasks/ wraps each in a Celery task.

start → fetch (one page per call, staged in Redis) → per batch: normalize → dedup → persist → archive
→ finish (once per sync). Every function is idempotent: run twice, same rows, same counts.
"""
from __future__ import annotations

import functools
import gc
import hashlib
import io
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Callable

import orjson
import psycopg2.errors
import redis
import sqlalchemy as sa
from psycopg2.extras import Json
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert as pg_insert

import connectors
from nexus_sync import breaker, catalog, db, names, sanitize, staging
from nexus_sync.archive import archive_row, get_archive, tab_field
from nexus_sync.config import get_settings
from nexus_sync.credentials import redact
from nexus_sync.errors import ConfigError, StagedBatchMissing
from nexus_sync.events import publish, sync_complete_event
from nexus_sync.models import DATA_MODELS, content_hash, fast_validator, identity_key
from nexus_sync.pgcopy import copy_isolating, reason
from nexus_sync.redis_client import get_redis

log = logging.getLogger(__name__)
ARCHIVE_NS = uuid.UUID("a7c3c0de-5e1f-4c1e-9a2b-61726368697a")
MAX_REPORTED_INVALID = 100


def uuid4_texts(n: int) -> list[str]:
    """n random (version 4) UUIDs as text: str(uuid.uuid4()) n times, from one urandom call."""
    raw = bytearray(os.urandom(16 * n))
    raw[6::16] = bytes(b & 0x0F | 0x40 for b in raw[6::16])  # version 4
    raw[8::16] = bytes(b & 0x3F | 0x80 for b in raw[8::16])  # RFC 4122 variant
    h = raw.hex()
    return [_uuid_text(h[j:j + 32]) for j in range(0, 32 * n, 32)]


def uuid5_text(prefix: bytes, name: str) -> str:
    """str(uuid.uuid5(ns, s + name)) where prefix = ns.bytes + s.encode(), without the UUID objects."""
    digest = bytearray(hashlib.sha1(prefix + name.encode()).digest()[:16])
    digest[6] = digest[6] & 0x0F | 0x50
    digest[8] = digest[8] & 0x3F | 0x80
    return _uuid_text(digest.hex())


def _uuid_text(h: str) -> str:
    """32 hex digits in the 8-4-4-4-12 form of str(uuid.UUID)."""
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def iso(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat() + "Z"


lock_key = names.lock_key
dedup_key = names.dedup_key


def batch_stage(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A stage that works on a whole page at once: the cyclic GC waits until it returns.

    A 5000-record page is ~10^5 container objects that stay alive for the whole stage. Each time they cross
    the collector's allocation thresholds it would walk them (and, in a full collection, the worker's whole
    heap) to find cycles they do not have: 40 % of normalize's time on the benchmark's page (bench/SUMMARY.md).
    Collection resumes when the stage returns; garbage with cycles made meanwhile (tracebacks) goes then.
    A stage that returns also marks its sync's progress (see `stalled`)."""

    @functools.wraps(fn)
    def paused(sync_hid: str, *args: Any, **kwargs: Any) -> Any:
        was_enabled = gc.isenabled()  # not when nested, or paused by the caller
        gc.disable()
        try:
            result = fn(sync_hid, *args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()
        mark_progress(sync_hid)
        return result

    return paused


progress_key = names.progress_key
frontier_key = names.frontier_key


def mark_progress(sync_hid: str, ahead: float = 0.0) -> None:
    """A stage of this sync just finished (or a task of it waits `ahead` seconds to retry): not stalled.
    Best effort: without it a sync only looks stalled sooner, and a resumed step is idempotent."""
    try:
        get_redis().set(progress_key(sync_hid), time.time() + ahead, ex=7 * 86400)
    except redis.RedisError as exc:
        log.warning("progress mark of sync %s not saved: %s", sync_hid, type(exc).__name__)


def _set_frontier(sync_hid: str, batch_no: int | None, state: Any, since: str | None) -> None:
    """The fetch to send next (batch None: every page is fetched), kept for `resume_plan`."""
    ttl = max(get_settings().stage_ttl_seconds, get_settings().lock_ttl_seconds)
    get_redis().set(frontier_key(sync_hid), orjson.dumps({"batch": batch_no, "state": state, "since": since}),
                    ex=ttl)


def _frontier(sync_hid: str) -> dict[str, Any] | None:
    """What _set_frontier kept: {"batch", "state", "since"}, or None when it is gone."""
    raw = get_redis().get(frontier_key(sync_hid))
    return orjson.loads(raw) if raw else None


@dataclass(frozen=True)
class SyncContext:
    sync_hid: uuid.UUID
    sync_id: str
    connector: catalog.ConnectorRow
    started_at: datetime
    sync_run: int

    @property
    def source(self) -> str:
        """A record's `source` is its connector's name (the spec's data model; DESIGN §9): two connectors of
        one type in one tenant never share rows. The identity hash keeps the type (cross-source matching)."""
        return self.connector.name


@lru_cache(maxsize=256)
def _load(sync_hid: str) -> SyncContext:
    sh = db.sync_history.c
    with db.get_engine().connect() as conn:
        r = conn.execute(
            sa.select(sh.id, sh.sync_id, sh.started_at, sh.connector_id, db.sync_runs.c.sync_run)
            .join(db.sync_runs, db.sync_runs.c.sync_history_id == sh.id)
            .where(sh.id == uuid.UUID(sync_hid))
        ).first()
    if r is None:
        raise LookupError(f"no sync {sync_hid}")
    return SyncContext(r.id, r.sync_id, catalog.get(r.connector_id), r.started_at, r.sync_run)


def load(sync_hid: str) -> SyncContext:
    return _load(str(sync_hid))


# --------------------------------------------------------------------------- start
@dataclass
class StartResult:
    sync_hid: str
    skipped: bool
    reason: str | None = None
    since: str | None = None


def _record_skip(conn: sa.Connection, row: catalog.ConnectorRow, sync_hid: uuid.UUID, reason: str) -> None:
    now = utcnow()
    conn.execute(pg_insert(db.sync_history).values(
        id=sync_hid, tenant_id=row.tenant_id, connector_id=row.id, sync_id=f"sync-{sync_hid.hex}",
        status="SKIPPED", records_processed=0, records_new=0, records_updated=0, errors_count=0,
        duration_ms=0, error_details={"reason": reason}, started_at=now, completed_at=now,
    ).on_conflict_do_nothing())


def start(connector_ref: str, sync_hid: str, trigger: str = "manual") -> StartResult:
    """Take the connector's lock and open sync_history RUNNING; a held lock records a SKIPPED run."""
    row = catalog.get(connector_ref)
    hid = uuid.UUID(sync_hid)
    engine = db.get_engine()
    if not row.enabled:
        with engine.begin() as conn:
            _record_skip(conn, row, hid, "connector is disabled")
        return StartResult(sync_hid, True, "connector is disabled")
    verdict = breaker.check(row.id, sync_hid)
    if not verdict.allowed:
        with engine.begin() as conn:
            _record_skip(conn, row, hid, verdict.reason or "circuit open")
        return StartResult(sync_hid, True, verdict.reason)
    r = get_redis()
    key = lock_key(row.id)
    if not r.set(key, sync_hid, nx=True, ex=get_settings().lock_ttl_seconds):
        holder = r.get(key)
        if holder is None or holder.decode() != sync_hid:
            reason = f"a sync of this connector is already running ({holder.decode() if holder else '?'})"
            with engine.begin() as conn:
                _record_skip(conn, row, hid, reason)
            return StartResult(sync_hid, True, reason)
    since = None
    with engine.begin() as conn:
        ended = conn.execute(sa.select(db.sync_history.c.status).where(
            db.sync_history.c.id == hid, db.sync_history.c.status != "RUNNING")).scalar()
        if ended:  # this start message came back after its sync ended (redelivery): nothing to do
            _release(row.id, sync_hid)
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
    _set_frontier(sync_hid, 0, None, since)
    mark_progress(sync_hid)
    return StartResult(sync_hid, False, since=since)


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


# --------------------------------------------------------------------------- fetch
@batch_stage
def fetch(sync_hid: str, batch_no: int, state: dict[str, Any] | None, since: str | None) -> dict[str, Any] | None:
    """Fetch one vendor page and stage it; returns the next page's state (None after the last)."""
    ctx = load(sync_hid)
    connector = ctx.connector.instance()
    page = connector.fetch_page(state, since)
    raw = {"records": page.records, "fetched_at": iso(utcnow())}
    if page.cursor is not None:  # the listing's own cursor (a Graph delta link), saved as this batch's cursor
        raw["cursor"] = connector.canonical_cursor(page.cursor)
    blob = orjson.dumps(raw)
    if sanitize.page_has_nul(blob):
        raw["nuls_replaced"] = sanitize.replace_nuls(page.records)
        if raw["nuls_replaced"]:
            log.warning("sync %s batch %d: %d vendor strings held NUL bytes, replaced by U+FFFD",
                        sync_hid, batch_no, raw["nuls_replaced"])
            blob = orjson.dumps(raw)
    staging.put_batch(sync_hid, batch_no, {"raw": blob})
    _set_frontier(sync_hid, None if page.next is None else batch_no + 1, page.next, since)
    runs = db.sync_runs.c
    with db.get_engine().begin() as conn:
        if page.next is None:
            conn.execute(db.sync_runs.update().where(runs.sync_history_id == ctx.sync_hid)
                         .values(pages_total=batch_no + 1, fetch_error=None))
        else:  # a replayed fetch reopens a sync that ended on a failed page: its end is unknown again
            reopened = conn.execute(db.sync_runs.update().where(
                runs.sync_history_id == ctx.sync_hid, runs.fetch_error.is_not(None))
                .values(pages_total=None, fetch_error=None)).rowcount
            if reopened:
                conn.execute(db.sync_history.update().where(db.sync_history.c.id == ctx.sync_hid)
                             .values(status="RUNNING"))
    return page.next


def batch_persisted(sync_hid: str, batch_no: int) -> bool:
    with db.get_engine().connect() as conn:
        status = conn.execute(sa.select(db.sync_batches.c.status).where(
            db.sync_batches.c.sync_history_id == uuid.UUID(sync_hid),
            db.sync_batches.c.batch_no == batch_no)).scalar()
    return status == "PERSISTED"


def _staged(sync_hid: str, batch_no: int, stage: str) -> Any:
    value = staging.get(sync_hid, batch_no, stage)
    if value is None:
        raise StagedBatchMissing(f"staged {stage} of batch {batch_no} of sync {sync_hid} is gone "
                                 "(expired or lost); replay the batch's fetch")
    return value


# ------------------------------------------------------------------------ normalize
# A normalized batch is staged in two parts so each later stage reads only what it needs: "norm" holds the
# small columns (source id, identity and content hashes per record, counts), "rows" the heavy ones, one line
# per record, `data JSON <TAB> raw JSON`, ready to go into COPY once escaped (JSON has no raw tab/newline).
@batch_stage
def normalize(sync_hid: str, batch_no: int) -> dict[str, int]:
    """Vendor records → typed, validated records; a bad record is skipped and reported, never fatal."""
    if staging.exists(sync_hid, batch_no, "norm") or batch_persisted(sync_hid, batch_no):
        return {"skipped": 1}
    ctx = load(sync_hid)
    raw = _staged(sync_hid, batch_no, "raw")
    page = _normalize_page(ctx.connector.instance(), ctx.connector.type, raw["records"])
    records = list(page.by_sid.values())
    cursors = [r[2] for r in records if r[2]] + ([raw["cursor"]] if raw.get("cursor") else [])
    staging.put_batch(sync_hid, batch_no, {
        "rows": b"\n".join(r[3] for r in records),
        "norm": {"v": 3, "kind": page.kind, "sid": list(page.by_sid), "h": [r[0] for r in records],
                 "c": [r[1] for r in records], "max_cursor": max(cursors) if cursors else None,
                 "invalid_count": len(page.invalid), "invalid": page.invalid[:MAX_REPORTED_INVALID],
                 "cursor_ignored": page.cursor_ignored[:MAX_REPORTED_INVALID],
                 "nuls_replaced": raw.get("nuls_replaced", 0), "fetched_at": raw["fetched_at"],
                 "duplicates_in_batch": len(page.merged), "merged": page.merged[:MAX_REPORTED_INVALID]},
    })
    return {"records": len(records), "invalid": len(page.invalid), "merged": len(page.merged)}


@dataclass
class _Page:
    kind: str
    # source id → (identity hash, content hash, cursor, `data JSON <TAB> raw JSON`)
    by_sid: dict[str, tuple[str, str, str | None, bytes]]
    invalid: list[dict[str, Any]]
    cursor_ignored: list[dict[str, Any]]
    merged: list[dict[str, Any]]


def _normalize_page(conn: Any, vendor: str, raw_records: list[dict[str, Any]]) -> _Page:
    """A record is keyed by its source id, the vendor's own identity (and the row's key in raw_data): two
    records of one source id in a page are one record, the later by the vendor's modification time (the
    cursor field), else the later in the page; the other is counted and named as merged. The identity hash
    (the spec's MD5 per kind, over the connector type) is stored for cross-source matching only."""
    kind = conn.kind
    validate, vendor_normalize = _validator(kind), conn.normalize
    source_id, cursor_value, dumps = conn.source_id, conn.cursor_value, orjson.dumps
    volatile = conn.volatile_fields
    page = _Page(kind, {}, [], [], [])
    at: dict[str, int] = {}  # source id → index of the record kept
    for i, rec in enumerate(raw_records):
        sid = None
        try:
            sid = source_id(rec)
            fields = validate(vendor_normalize(rec))
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            page.invalid.append({"index": i, "source_id": sid, "error": _brief_error(exc)})
            continue
        try:
            cursor = cursor_value(rec)
        except ValueError as exc:  # the record is good, its cursor is not: it lands, the cursor never moves by it
            page.cursor_ignored.append({"index": i, "source_id": sid, "error": _brief_error(exc)})
            cursor = None
        kept = page.by_sid.get(sid)
        if kept is not None:
            newer = not (cursor and kept[2] and cursor < kept[2])
            dropped = at[sid] if newer else i
            page.merged.append({"index": dropped, "source_id": sid, "error": "merged: the same source id twice in "
                                f"one page; kept record {i if newer else at[sid]} (the later by modification time)"})
            if not newer:
                continue
        at[sid] = i
        page.by_sid[sid] = (identity_key(kind, vendor, fields), content_hash(fields, rec, volatile), cursor,
                            dumps(fields) + b"\t" + dumps(rec))
    return page


@lru_cache(maxsize=None)
def _validator(kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return fast_validator(DATA_MODELS[kind])


def _norm(sync_hid: str, batch_no: int) -> dict[str, Any]:
    """The staged "norm" columns of a batch."""
    return _staged(sync_hid, batch_no, "norm")


def _rows(sync_hid: str, batch_no: int, norm: dict[str, Any]) -> list[bytes]:
    """The staged "rows" lines of a batch, one per record of norm, in its order."""
    blob = staging.get_bytes(sync_hid, batch_no, "rows")
    if blob is None:
        raise StagedBatchMissing(f"staged rows of batch {batch_no} of sync {sync_hid} are gone "
                                 "(expired or lost); replay the batch's fetch")
    return blob.split(b"\n") if norm["h"] else []


def _brief_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())[:300]
    if isinstance(exc, KeyError):
        return f"missing required field {exc.args[0]!r}"
    return f"{type(exc).__name__}: {exc}"[:300]


# ---------------------------------------------------------------------------- dedup
NEW, UPDATED, UNCHANGED = "N", "U", "S"


@batch_stage
def dedup(sync_hid: str, batch_no: int) -> dict[str, int]:
    """Classify each record NEW / UPDATED / UNCHANGED: Redis cache first, Postgres for cache misses."""
    if staging.exists(sync_hid, batch_no, "dedup") or batch_persisted(sync_hid, batch_no):
        return {"skipped": 1}
    ctx = load(sync_hid)
    norm = _norm(sync_hid, batch_no)
    sids, hashes = norm["sid"], norm["c"]
    known: dict[str, str] = {}
    if sids:
        cached = get_redis().hmget(dedup_key(ctx.connector.tenant_id, ctx.source), sids)
        known = {s: c.decode() for s, c in zip(sids, cached) if c is not None}
    hits = len(known)
    if hits < len(sids):
        known.update(_stored_hashes(ctx, norm["kind"], [s for s in sids if s not in known]))
    classes = "".join(NEW if s not in known else (UNCHANGED if known[s] == c else UPDATED)
                      for s, c in zip(sids, hashes))
    staging.put(sync_hid, batch_no, "dedup", {"classes": classes, "cache_hits": hits})
    return {"new": classes.count(NEW), "updated": classes.count(UPDATED), "unchanged": classes.count(UNCHANGED),
            "cache_hits": hits}


def _stored_hashes(ctx: SyncContext, kind: str, sids: list[str]) -> dict[str, str]:
    """Cold cache: content hashes of stored rows, computed from their data (and put back in the cache)."""
    raw_conn = db.get_engine().raw_connection()
    try:
        with raw_conn.cursor() as cur:  # one array parameter, not thousands of bound ones
            cur.execute("SELECT source_id, data, raw_data FROM raw_data WHERE tenant_id = %s AND source = %s "
                        "AND type = %s AND source_id = ANY(%s)", (str(ctx.connector.tenant_id), ctx.source, kind, sids))
            rows = cur.fetchall()
        raw_conn.rollback()
    finally:
        raw_conn.close()
    volatile = connectors.get(ctx.connector.type).volatile_fields
    found = {sid: content_hash(data, raw, volatile) for sid, data, raw in rows}
    if found:
        get_redis().hset(dedup_key(ctx.connector.tenant_id, ctx.source), mapping=found)
    return found


# -------------------------------------------------------------------------- persist
COLUMNS = "id, tenant_id, source, type, source_id, hash, data, raw_data, ingested_at, last_seen"
# updated rows (and new ones that turn out to exist) are upserted from a session-local staging table
STAGE_TABLE_SQL = "CREATE TEMP TABLE IF NOT EXISTS persist_rows (LIKE raw_data) ON COMMIT DELETE ROWS"
UPSERT_SQL = f"""
INSERT INTO raw_data ({COLUMNS})
SELECT {COLUMNS} FROM persist_rows
ON CONFLICT (tenant_id, source, source_id, type) DO UPDATE SET
  hash = EXCLUDED.hash, data = EXCLUDED.data, raw_data = EXCLUDED.raw_data,
  last_seen = EXCLUDED.last_seen, updated_at = now()
"""
TOUCH_SQL = """
UPDATE raw_data SET last_seen = %s
WHERE tenant_id = %s AND source = %s AND type = %s AND source_id = ANY(%s) AND last_seen < %s
"""
BATCH_SQL = """
INSERT INTO sync_batches (sync_history_id, batch_no, status, records, records_new, records_updated,
  records_unchanged, records_invalid, max_cursor, details)
VALUES (%s, %s, 'PERSISTED', %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (sync_history_id, batch_no) DO UPDATE SET status = 'PERSISTED', records = EXCLUDED.records,
  records_new = EXCLUDED.records_new, records_updated = EXCLUDED.records_updated,
  records_unchanged = EXCLUDED.records_unchanged, records_invalid = EXCLUDED.records_invalid,
  max_cursor = EXCLUDED.max_cursor, details = EXCLUDED.details, persisted_at = now()
WHERE sync_batches.status <> 'PERSISTED'
"""


@batch_stage
def persist(sync_hid: str, batch_no: int) -> dict[str, int]:
    """One transaction: write new and updated rows, touch last_seen of unchanged ones, record the batch.
    New rows go in with COPY; should one exist after all (a concurrent writer), they join the upsert. A row
    PostgreSQL refuses as data is left out, counted and reported by source id; the rest of the page lands.
    The dedup cache learns the new hashes only after the commit."""
    ctx = load(sync_hid)
    try:
        norm = _norm(sync_hid, batch_no)
        classes = _staged(sync_hid, batch_no, "dedup")["classes"]
    except StagedBatchMissing:
        if batch_persisted(sync_hid, batch_no):  # a late duplicate delivery: archive has dropped the staging,
            return {"skipped": 1}                # which it does only after this batch's persist completed
        raise
    sids, hashes = norm["sid"], norm["c"]
    changed = [i for i, c in enumerate(classes) if c != UNCHANGED]
    lines = _rows(sync_hid, batch_no, norm) if changed else []

    def learned(refused: Any) -> dict[str, str]:
        return {sids[i]: hashes[i] for i in changed if i not in refused}

    def changed_data(refused: Any) -> Callable[[], list[dict[str, Any]]]:  # new and updated data, batch order
        return lambda: [orjson.loads(lines[i].split(b"\t", 1)[0]) for i in changed if i not in refused]

    started = time.perf_counter()
    raw_conn = db.get_engine().raw_connection()
    try:
        with raw_conn.cursor() as cur:
            cur.execute("SELECT status, details FROM sync_batches WHERE sync_history_id = %s AND batch_no = %s "
                        "FOR UPDATE", (str(ctx.sync_hid), batch_no))
            already = cur.fetchone()
            if already and already[0] == "PERSISTED":
                raw_conn.rollback()
                refused = set((already[1] or {}).get("refused", []))
                _learn(ctx, learned(refused))
                _after_persist(ctx, batch_no, changed_data(refused))  # idempotent: a crash may have come first
                return {"skipped": 1}
            refused = _write_rows(cur, ctx, norm, classes, lines)
            counts = {"new": sum(1 for i, c in enumerate(classes) if c == NEW and i not in refused),
                      "updated": sum(1 for i, c in enumerate(classes) if c == UPDATED and i not in refused),
                      "unchanged": classes.count(UNCHANGED)}
            invalid = norm["invalid"] + [{"index": i, "source_id": sids[i], "error": f"refused by PostgreSQL: {why}"}
                                         for i, why in sorted(refused.items())]
            details = {"invalid": invalid[:MAX_REPORTED_INVALID], "duplicates_in_batch": norm["duplicates_in_batch"],
                       "merged": norm.get("merged", []),
                       "refused": sorted(refused), **{k: norm[k] for k in ("cursor_ignored", "nuls_replaced")
                                                      if norm.get(k)}}
            cur.execute(BATCH_SQL, (str(ctx.sync_hid), batch_no, len(classes), counts["new"], counts["updated"],
                                    counts["unchanged"], norm["invalid_count"] + len(refused), norm["max_cursor"],
                                    Json(details)))
        raw_conn.commit()
    except psycopg2.Error as exc:  # its text may quote a row (COPY's CONTEXT line): keep code and message only
        raw_conn.rollback()
        raise StoreError(f"persist of batch {batch_no}: {reason(exc)}") from None
    except BaseException:
        raw_conn.rollback()
        raise
    finally:
        raw_conn.close()
    _learn(ctx, learned(refused))
    extra = _after_persist(ctx, batch_no, changed_data(refused))
    return counts | extra | {"refused": len(refused), "write_ms": int((time.perf_counter() - started) * 1000)}


class StoreError(Exception):
    """PostgreSQL failed a write for a reason other than the data (retried like any database hiccup)."""


def _write_rows(cur: Any, ctx: SyncContext, norm: dict[str, Any], classes: str, lines: list[bytes]
                ) -> dict[int, str]:
    """COPY the new rows, upsert the updated ones (and new ones that exist after all, or that COPY refused),
    touch the unchanged ones. Returns the rows PostgreSQL refused as data: {index: reason}."""
    sids, idents = norm["sid"], norm["h"]
    tenant, source, kind = ctx.connector.tenant_id, ctx.source, norm["kind"]
    seen_at = datetime.fromisoformat(norm["fetched_at"].rstrip("Z"))
    new = [i for i, c in enumerate(classes) if c == NEW]
    updated = [i for i, c in enumerate(classes) if c == UPDATED]
    unchanged_ids = [sids[i] for i, c in enumerate(classes) if c == UNCHANGED]
    head = f"\t{tenant}\t{tab_field(source)}\t{tab_field(kind)}\t"
    tail = f"\t{seen_at.isoformat()}\t{seen_at.isoformat()}\n".encode()

    def copy_rows(indexes: list[int]) -> io.BytesIO:
        return io.BytesIO(b"".join(
            f"{row_id}{head}{tab_field(sids[i])}\t{idents[i]}\t".encode()
            + lines[i].replace(b"\\", b"\\\\") + tail for row_id, i in zip(uuid4_texts(len(indexes)), indexes)))

    upsert = updated
    if new:
        cur.execute("SAVEPOINT persist_new")
        try:
            cur.copy_expert(f"COPY raw_data ({COLUMNS}) FROM STDIN", copy_rows(new))
            cur.execute("RELEASE SAVEPOINT persist_new")
        except (psycopg2.errors.UniqueViolation, psycopg2.DataError):  # the staging table sorts them out
            cur.execute("ROLLBACK TO SAVEPOINT persist_new")
            upsert = updated + new
    refused: dict[int, str] = {}
    if upsert:
        cur.execute(STAGE_TABLE_SQL)
        refused = copy_isolating(cur, f"COPY persist_rows ({COLUMNS}) FROM STDIN", upsert, copy_rows)
        cur.execute(UPSERT_SQL)
    if unchanged_ids:
        cur.execute(TOUCH_SQL, (seen_at, str(tenant), source, kind, unchanged_ids, seen_at))
    return refused


def _after_persist(ctx: SyncContext, batch_no: int, changed_data: Callable[[], list[dict[str, Any]]]
                   ) -> dict[str, int]:
    """A connector's own follow-up of committed records (TheHive: incidents → risks), counted in the batch."""
    hook = getattr(getattr(connectors.get(ctx.connector.type), "hooks", None), "after_persist", None)
    changed = changed_data() if hook is not None else []
    if not changed:
        return {}
    counts = hook(ctx.connector.tenant_id, changed)
    with db.get_engine().begin() as conn:
        conn.execute(sa.text("UPDATE sync_batches SET details = coalesce(details, '{}'::jsonb) || "
                             "jsonb_build_object('follow_up', CAST(:c AS jsonb)) "
                             "WHERE sync_history_id = :s AND batch_no = :b"),
                     {"c": json.dumps(counts), "s": ctx.sync_hid, "b": batch_no})
    return {f"follow_up_{k}": v for k, v in counts.items()}


def _learn(ctx: SyncContext, hashes: dict[str, str]) -> None:
    if hashes:
        get_redis().hset(dedup_key(ctx.connector.tenant_id, ctx.source), mapping=hashes)


# -------------------------------------------------------------------------- archive
@batch_stage
def archive(sync_hid: str, batch_no: int) -> tuple[dict[str, int], bool]:
    """Append the batch's new and updated records to ClickHouse; returns (counts, sync finished?)."""
    ctx = load(sync_hid)
    sb = db.sync_batches.c
    where = sa.and_(sb.sync_history_id == ctx.sync_hid, sb.batch_no == batch_no)
    with db.get_engine().connect() as conn:
        batch = conn.execute(sa.select(sb.archived_at, sb.details).where(where)).first()
    if batch is not None and batch.archived_at is not None:
        return {"skipped": 1}, _finished(ctx)
    refused = set(((batch.details if batch else None) or {}).get("refused", []))  # never stored: never archived
    norm = _norm(sync_hid, batch_no)
    classes = _staged(sync_hid, batch_no, "dedup")["classes"]
    ingested = datetime.fromisoformat(norm["fetched_at"].rstrip("Z"))
    changed = [i for i, c in enumerate(classes) if c != UNCHANGED and i not in refused]
    lines = _rows(sync_hid, batch_no, norm) if changed else []
    tenant, source, kind, sids = str(ctx.connector.tenant_id), ctx.source, norm["kind"], norm["sid"]
    prefix = ARCHIVE_NS.bytes + f"{sync_hid}:".encode()
    rows = [archive_row(uuid5_text(prefix, sids[i]), tenant, source, kind, lines[i].split(b"\t", 1)[0], ingested)
            for i in changed]
    inserted = get_archive().insert_new(rows)
    with db.get_engine().begin() as conn:
        conn.execute(db.sync_batches.update().where(where).values(archived_at=utcnow()))
    staging.drop(sync_hid, batch_no)
    return {"archived": inserted}, _finished(ctx)


# ------------------------------------------------------------------- failures / done
def batch_failed(sync_hid: str, batch_no: int, error: str) -> bool:
    """A batch's task was dead-lettered: record the gap; returns whether the sync is now finished."""
    ctx = load(sync_hid)
    with db.get_engine().begin() as conn:
        conn.execute(pg_insert(db.sync_batches).values(
            sync_history_id=ctx.sync_hid, batch_no=batch_no, status="FAILED",
            details={"error": redact(error)[:1000]}).on_conflict_do_nothing())
    return _finished(ctx)


def fetch_failed(sync_hid: str, batch_no: int, error: str) -> bool:
    """Fetching page batch_no failed for good: later pages are unknown, so the sync ends here."""
    ctx = load(sync_hid)
    _release_vendor_state(ctx, sync_hid)
    with db.get_engine().begin() as conn:
        conn.execute(db.sync_runs.update().where(db.sync_runs.c.sync_history_id == ctx.sync_hid)
                     .values(pages_total=batch_no + 1, fetch_error=redact(error)[:1000]))
    return batch_failed(sync_hid, batch_no, f"fetch failed: {error}")


def _release_vendor_state(ctx: SyncContext, sync_hid: str) -> None:
    """Fetching ended for good before the last page: the connector gives back what the vendor holds for the
    listing (Connector.release). Best effort: the vendor lets it expire anyway."""
    try:
        state = (_frontier(sync_hid) or {}).get("state")
        if state:
            ctx.connector.instance().release(state)
    except Exception as exc:  # never let the clean-up hide the failure being recorded
        log.warning("sync %s: releasing the vendor's listing state failed: %s", sync_hid, type(exc).__name__)


def _finished(ctx: SyncContext) -> bool:
    sb = db.sync_batches.c
    with db.get_engine().connect() as conn:
        total = conn.execute(sa.select(db.sync_runs.c.pages_total).where(
            db.sync_runs.c.sync_history_id == ctx.sync_hid)).scalar()
        if total is None:
            return False
        done = conn.execute(sa.select(sa.func.count()).where(
            sb.sync_history_id == ctx.sync_hid,
            sa.or_(sb.archived_at.is_not(None), sb.status == "FAILED"))).scalar_one()
    return done >= total


def start_failed(connector_ref: str, sync_hid: str, error: str) -> None:
    """start_sync itself was dead-lettered: close the run as FAILED (if it was opened) and free the lock."""
    hid = uuid.UUID(sync_hid)
    with db.get_engine().begin() as conn:
        conn.execute(db.sync_history.update().where(db.sync_history.c.id == hid,
                                                     db.sync_history.c.status == "RUNNING").values(
            status="FAILED", completed_at=utcnow(), error_details={"errors": [redact(error)[:1000]]}))
    try:
        row = catalog.get(connector_ref)
    except Exception:
        return
    _release(row.id, sync_hid)


def _release(connector_id: Any, sync_hid: str) -> None:
    # delete the lock only if this sync holds it
    get_redis().eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
                     "return 0", 1, lock_key(connector_id), sync_hid)


# ---------------------------------------------------------------------- stalled syncs
def stalled(stall_seconds: float, now: float | None = None) -> list[str]:
    """RUNNING syncs none of whose stages has finished for stall_seconds.

    Every step of a sync is a broker message, and a Redis broker that restarts just as a worker pops a message
    loses it (the pop is kept, the reply dies with the connection): the chain then stops with nothing queued.
    """
    now = time.time() if now is None else now
    sh = db.sync_history.c
    with db.get_engine().connect() as conn:
        running = conn.execute(sa.select(sh.id, sh.started_at).where(sh.status == "RUNNING")).all()
    if not running:
        return []
    marks = get_redis().mget([progress_key(str(r.id)) for r in running])
    out = []
    for r, mark in zip(running, marks):
        last = float(mark) if mark else r.started_at.replace(tzinfo=timezone.utc).timestamp()
        if now - last >= stall_seconds:
            out.append(str(r.id))
    return out


BATCH_STAGES = ("normalize", "dedup", "persist", "archive")


def resume_plan(sync_hid: str) -> list[tuple[Any, ...]]:
    """The steps that move a stalled sync on, from what is durable: the batches' rows in Postgres, their staged
    parts in Redis and the fetch frontier. Steps: ("batch", n, first stage), ("fetch", n, state, since),
    ("lost_batch", n, why) for a batch whose staged data is gone before it was persisted, ("lost_fetch", n, why)
    when where fetching goes on is gone, ("notify",).
    Sending a step that was only slow, not lost, is harmless: every stage is idempotent."""
    hid = uuid.UUID(sync_hid)
    sb = db.sync_batches.c
    with db.get_engine().connect() as conn:
        total = conn.execute(sa.select(db.sync_runs.c.pages_total).where(
            db.sync_runs.c.sync_history_id == hid)).scalar()
        batches = {r.batch_no: r for r in conn.execute(sa.select(sb.batch_no, sb.status, sb.archived_at).where(
            sb.sync_history_id == hid))}
    frontier = _frontier(sync_hid)
    if total is not None:
        last = total - 1
    elif frontier is not None and frontier["batch"] is not None:
        last = frontier["batch"] - 1
    else:
        last = max(batches, default=-1)
    steps: list[tuple[Any, ...]] = []
    for n in range(last + 1):
        b = batches.get(n)
        if b is not None and (b.status == "FAILED" or b.archived_at is not None):
            continue
        if b is not None and b.status == "PERSISTED":
            steps.append(("batch", n, "archive"))
        elif staging.exists(sync_hid, n, "dedup"):
            steps.append(("batch", n, "persist"))
        elif staging.exists(sync_hid, n, "norm"):
            steps.append(("batch", n, "dedup"))
        elif staging.exists(sync_hid, n, "raw"):
            steps.append(("batch", n, "normalize"))
        else:
            steps.append(("lost_batch", n, "its staged data is gone (expired or lost) before it was persisted"))
    if total is None:
        if frontier is not None and frontier["batch"] is not None:
            steps.append(("fetch", frontier["batch"], frontier["state"], frontier["since"]))
        elif frontier is None:
            steps.append(("lost_fetch", last + 1, "where fetching was to go on is gone (expired or lost)"))
    if not steps:
        steps.append(("notify",))
    return steps


def _batch_notes(conn: sa.Connection, sync_hid: uuid.UUID) -> tuple[list[dict[str, Any]], tuple[int, list[Any]]]:
    """What the batches say of single records: the invalid ones, and (count, the first) merged ones."""
    sb = db.sync_batches.c
    rows = conn.execute(sa.select(sb.batch_no, sb.details).where(
        sb.sync_history_id == sync_hid, sa.or_(sb.records_invalid > 0, sb.details["duplicates_in_batch"]
                                              .as_integer() > 0)).order_by(sb.batch_no)).all()
    invalid = [dict(inv, batch=r.batch_no) for r in rows for inv in (r.details or {}).get("invalid", [])]
    merged = [dict(m, batch=r.batch_no) for r in rows for m in (r.details or {}).get("merged", [])]
    count = sum(int((r.details or {}).get("duplicates_in_batch") or 0) for r in rows)
    return invalid[:MAX_REPORTED_INVALID], (count, merged[:MAX_REPORTED_INVALID])


def finish(sync_hid: str) -> dict[str, Any] | None:
    """Close the sync: counts, status, cursor (only when there is no gap), report, Kafka event, lock."""
    ctx = load(sync_hid)
    if not _finished(ctx):
        return None
    sb, sh = db.sync_batches.c, db.sync_history.c
    engine = db.get_engine()
    with engine.begin() as conn:
        run = conn.execute(sa.select(db.sync_runs).where(db.sync_runs.c.sync_history_id == ctx.sync_hid)
                           .with_for_update()).one()
        agg = conn.execute(sa.select(
            sa.func.count().filter(sb.status == "FAILED").label("failed"),
            sa.func.count().filter(sb.status == "PERSISTED").label("persisted"),
            sa.func.coalesce(sa.func.sum(sb.records_new), 0).label("new"),
            sa.func.coalesce(sa.func.sum(sb.records_updated), 0).label("updated"),
            sa.func.coalesce(sa.func.sum(sb.records_unchanged), 0).label("unchanged"),
            sa.func.coalesce(sa.func.sum(sb.records_invalid), 0).label("invalid"),
            sa.func.max(sb.max_cursor).label("cursor"),
        ).where(sb.sync_history_id == ctx.sync_hid)).one()
        failures = conn.execute(sa.select(sb.batch_no, sb.details).where(
            sb.sync_history_id == ctx.sync_hid, sb.status == "FAILED").order_by(sb.batch_no)).all()
        invalid, merged = _batch_notes(conn, ctx.sync_hid)
        follow_up: dict[str, int] = {}
        for (extra,) in conn.execute(sa.select(sb.details["follow_up"]).where(
                sb.sync_history_id == ctx.sync_hid, sb.details.has_key("follow_up"))):
            for k, v in (extra or {}).items():
                follow_up[k] = follow_up.get(k, 0) + int(v)
        if agg.persisted == 0 and agg.failed:
            status = "FAILED"
        elif agg.failed or agg.invalid:
            status = "PARTIAL"
        else:
            status = "SUCCESS"
        errors = [{"batch": f.batch_no, "error": (f.details or {}).get("error")} for f in failures]
        current = conn.execute(sa.select(sh.status, sh.records_new, sh.records_updated, sh.error_details)
                               .where(sh.id == ctx.sync_hid)).one()
        if (current.status == status and current.records_new == agg.new
                and current.records_updated == agg.updated and current.error_details):
            _release(ctx.connector.id, sync_hid)  # closed already (task ran twice): nothing new to say
            return current.error_details.get("report")
        if not agg.failed and agg.cursor:  # the cursor never moves past a gap
            stmt = pg_insert(db.connector_state).values(connector_id=ctx.connector.id,
                                                        stream=ctx.connector.instance().stream,
                                                        cursor=agg.cursor, sync_id=ctx.sync_id)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["connector_id", "stream"],
                set_={"cursor": stmt.excluded.cursor, "sync_id": stmt.excluded.sync_id, "updated_at": sa.func.now()},
                where=sa.or_(db.connector_state.c.cursor.is_(None),
                             db.connector_state.c.cursor < stmt.excluded.cursor)))
        completed = utcnow()
        duration_ms = int((completed - ctx.started_at).total_seconds() * 1000)
        processed = agg.new + agg.updated + agg.unchanged
        interval = catalog.interval_seconds(ctx.connector.interval)
        next_at = completed + timedelta(seconds=interval) if interval else None
        pages = run.pages_total or 0
        report = {
            "sync_id": ctx.sync_id, "connector": ctx.connector.name, "connector_id": str(ctx.connector.id),
            "status": status, "duration_ms": duration_ms,
            "records": {"processed": processed, "new": agg.new, "updated": agg.updated,
                        "unchanged": agg.unchanged, "invalid": agg.invalid, "merged": merged[0]},
            "records_per_second": round(processed / max(duration_ms / 1000, 1e-3), 1),
            "pages": pages, "pages_failed": agg.failed,
            "success_rate": round(100.0 * (pages - agg.failed) / pages, 1) if pages else 100.0,
            "errors": errors, "invalid_records": invalid, "merged_records": merged[1], "cursor": agg.cursor,
            "next_sync_at": iso(next_at) if next_at else None, "trigger": run.trigger,
        }
        if follow_up:
            report["follow_up"] = follow_up  # e.g. TheHive → risks: created, updated, skipped_low_medium
        conn.execute(db.sync_history.update().where(sh.id == ctx.sync_hid).values(
            status=status, records_processed=processed, records_new=agg.new, records_updated=agg.updated,
            errors_count=agg.failed + agg.invalid, duration_ms=duration_ms, completed_at=completed,
            next_sync_at=next_at, error_details={"report": report}))
        announce = run.event_published_status != status
    breaker.record(ctx.connector.id, status)
    _release(ctx.connector.id, sync_hid)  # the next sync may start while this one's event goes out
    if announce:
        event = sync_complete_event(
            sync_id=ctx.sync_id, connector_id=str(ctx.connector.id), tenant_id=str(ctx.connector.tenant_id),
            status=status, new=agg.new, updated=agg.updated, touched=agg.unchanged, duration_ms=duration_ms,
            errors=errors, timestamp=iso(completed))
        publish(get_settings().kafka_topic, str(ctx.connector.id), event)
        with engine.begin() as conn:
            conn.execute(db.sync_runs.update().where(db.sync_runs.c.sync_history_id == ctx.sync_hid)
                         .values(event_published_status=status))
        report["_event"] = event  # announced now (not stored): notify hands it to the webhook subscribers
    return report
