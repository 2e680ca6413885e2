"""Persist: a batch's new and updated rows into raw_data, unchanged ones' last_seen touched when due (relatime,
pipeline.seen), and the batch's ledger row, in one transaction; then the dedup cache and the connector's own
follow-up (TheHive → risks)."""
from __future__ import annotations

import io
import json
import time
from contextlib import closing
from datetime import datetime
from typing import Any, Callable, Collection

import orjson
import psycopg2.errors
import sqlalchemy as sa
from psycopg2.extras import Json

from nexus_sync import db, staging
from nexus_sync.entities import link_batch
from nexus_sync.errors import StagedBatchMissing
from nexus_sync.pgcopy import copy_isolating, reason
from nexus_sync.pipeline import seen
from nexus_sync.pipeline.changes import record as record_changes
from nexus_sync.pipeline.context import SyncContext, batch_stage, load
from nexus_sync.pipeline.deduplicating import learn
from nexus_sync.pipeline.ids import uuid4_texts
from nexus_sync.pipeline.ledger import (
    MAX_REPORTED_INVALID,
    NEW,
    UNCHANGED,
    UPDATED,
    batch_persisted,
    staged,
    staged_norm,
    staged_rows,
)
from nexus_sync.pipeline.owing import owe_archive
from nexus_sync.tsv import tab_field

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


class StoreError(Exception):
    """PostgreSQL failed a write for a reason other than the data (retried like any database hiccup)."""


@batch_stage
def persist(sync_hid: str, batch_no: int) -> dict[str, int]:
    """One transaction: write new and updated rows, touch last_seen of unchanged ones due, record the batch.
    New rows go in with COPY; should one exist after all (a concurrent writer), they join the upsert. A row
    PostgreSQL refuses as data is left out, counted and reported by source id; the rest of the page lands.
    The dedup cache learns the new hashes only after the commit."""
    ctx = load(sync_hid)
    try:
        norm = staged_norm(sync_hid, batch_no)
        part = staged(sync_hid, batch_no, "dedup")
        classes: str = part["classes"]
    except StagedBatchMissing:
        if batch_persisted(sync_hid, batch_no):  # a late duplicate delivery: the staging is dropped only
            return {"skipped": 1}                # after this batch's persist completed
        raise
    sids = norm["sid"]
    changed = [i for i, c in enumerate(classes) if c != UNCHANGED]
    # unchanged records whose last_seen is due (relatime, pipeline.seen); a part staged before it: all of them
    touched = [i for i, c in enumerate(part.get("touch") or seen.TOUCH * len(classes))
               if c == seen.TOUCH and classes[i] == UNCHANGED]
    lines = staged_rows(sync_hid, batch_no, norm) if changed else []
    seen_at = seen.epoch(datetime.fromisoformat(norm["fetched_at"].rstrip("Z")))

    def learned(refused: Collection[int]) -> dict[str, str]:
        return seen.entries(norm, (i for i in changed + touched if i not in refused), seen_at)

    def changed_data(refused: Collection[int]) -> Callable[[], list[dict[str, Any]]]:  # new and updated, in order
        return lambda: [orjson.loads(lines[i].split(b"\t", 1)[0]) for i in changed if i not in refused]

    started = time.perf_counter()
    raw_conn = db.get_engine().raw_connection()
    try:
        with closing(raw_conn.cursor()) as cur:
            cur.execute("SELECT status, details FROM sync_batches WHERE sync_history_id = %s AND batch_no = %s "
                        "FOR UPDATE", (str(ctx.sync_hid), batch_no))
            already = cur.fetchone()
            if already and already[0] == "PERSISTED":
                raw_conn.rollback()
                kept = set((already[1] or {}).get("refused", []))
                learn(ctx, learned(kept))
                _after_persist(ctx, batch_no, changed_data(kept))  # idempotent: a crash may have come first
                staging.drop(sync_hid, batch_no)
                return {"skipped": 1}
            refused = _write_rows(cur, ctx, norm, classes, lines, [sids[i] for i in touched])
            counts = _record_batch(cur, ctx, batch_no, norm, classes, refused)
            owe_archive(cur, ctx, batch_no, norm, classes, lines, refused)  # the outbox: in this transaction
            # last: linking holds the tenant's advisory lock until the commit (other batches of it wait)
            link_batch(cur, ctx, norm["kind"], ((sids[i], lines[i]) for i in changed if i not in refused))
        raw_conn.commit()
    except psycopg2.Error as exc:  # its text may quote a row (COPY's CONTEXT line): keep code and message only
        raw_conn.rollback()
        raise StoreError(f"persist of batch {batch_no}: {reason(exc)}") from None
    except BaseException:
        raw_conn.rollback()
        raise
    finally:
        raw_conn.close()
    learn(ctx, learned(refused))
    extra = _after_persist(ctx, batch_no, changed_data(refused))
    staging.drop(sync_hid, batch_no)  # what the archive needs is owed in PostgreSQL
    return counts | extra | {"refused": len(refused), "write_ms": int((time.perf_counter() - started) * 1000)}


def _record_batch(cur: Any, ctx: SyncContext, batch_no: int, norm: dict[str, Any], classes: str,
                  refused: dict[int, str]) -> dict[str, int]:
    """The batch's ledger row, PERSISTED with its counts and notes; returns the counts."""
    sids = norm["sid"]
    counts = {"new": sum(1 for i, c in enumerate(classes) if c == NEW and i not in refused),
              "updated": sum(1 for i, c in enumerate(classes) if c == UPDATED and i not in refused),
              "unchanged": classes.count(UNCHANGED)}
    invalid = norm["invalid"] + [{"index": i, "source_id": sids[i], "error": f"refused by PostgreSQL: {why}"}
                                 for i, why in sorted(refused.items())]
    details = {"invalid": invalid[:MAX_REPORTED_INVALID], "duplicates_in_batch": norm["duplicates_in_batch"],
               "merged": norm.get("merged", []), "refused": sorted(refused),
               **{k: norm[k] for k in ("cursor_ignored", "nuls_replaced") if norm.get(k)}}
    cur.execute(BATCH_SQL, (str(ctx.sync_hid), batch_no, len(classes), counts["new"], counts["updated"],
                            counts["unchanged"], norm["invalid_count"] + len(refused), norm["max_cursor"],
                            Json(details)))
    return counts


def _write_rows(cur: Any, ctx: SyncContext, norm: dict[str, Any], classes: str, lines: list[bytes],
                unchanged_ids: list[str]) -> dict[int, str]:
    """COPY the new rows, upsert the updated ones (and new ones that exist after all, or that COPY refused),
    touch the unchanged ones whose last_seen is due. Returns the rows PostgreSQL refused as data: {index: reason}."""
    sids, idents = norm["sid"], norm["h"]
    tenant, source, kind = ctx.connector.tenant_id, ctx.source, norm["kind"]
    seen_at = datetime.fromisoformat(norm["fetched_at"].rstrip("Z"))
    new = [i for i, c in enumerate(classes) if c == NEW]
    updated = [i for i, c in enumerate(classes) if c == UPDATED]
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
        record_changes(cur, ctx, kind)  # before the upsert: raw_data still holds the before values
        cur.execute(UPSERT_SQL)
    if unchanged_ids:
        cur.execute(TOUCH_SQL, (seen_at, str(tenant), source, kind, unchanged_ids, seen_at))
    return refused


def _after_persist(ctx: SyncContext, batch_no: int, changed_data: Callable[[], list[dict[str, Any]]]
                   ) -> dict[str, int]:
    """A connector's own follow-up of committed records (TheHive: incidents → risks), counted in the batch."""
    hook: Callable[[Any, list[dict[str, Any]]], dict[str, int]] | None = getattr(
        getattr(ctx.vendor, "hooks", None), "after_persist", None)
    if hook is None:
        return {}
    changed = changed_data()
    if not changed:
        return {}
    counts = hook(ctx.connector.tenant_id, changed)
    with db.get_engine().begin() as conn:
        conn.execute(sa.text("UPDATE sync_batches SET details = coalesce(details, '{}'::jsonb) || "
                             "jsonb_build_object('follow_up', CAST(:c AS jsonb)) "
                             "WHERE sync_history_id = :s AND batch_no = :b"),
                     {"c": json.dumps(counts), "s": ctx.sync_hid, "b": batch_no})
    return {f"follow_up_{k}": v for k, v in counts.items()}
