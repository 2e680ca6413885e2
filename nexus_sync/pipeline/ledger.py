"""The batches' ledger: `sync_batches` rows in Postgres (what is durable) and the staged parts in Redis (what
a batch's next stage reads); when a sync has every batch done, and how a batch's gap is recorded."""
from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from nexus_sync import db, names, staging
from nexus_sync.credentials import redact
from nexus_sync.errors import StagedBatchMissing
from nexus_sync.pipeline.context import SyncContext, frontier_ttl, load
from nexus_sync.redis_client import get_redis

MAX_REPORTED_INVALID = 100
BATCH_STAGES = ("normalize", "dedup", "persist")  # archive: owed at persist, sent by the outbox relay
NEW, UPDATED, UNCHANGED = "N", "U", "S"  # a record's dedup class, one letter per record in the "dedup" part


def batch_persisted(sync_hid: str, batch_no: int) -> bool:
    with db.get_engine().connect() as conn:
        status = conn.execute(sa.select(db.sync_batches.c.status).where(
            db.sync_batches.c.sync_history_id == uuid.UUID(sync_hid),
            db.sync_batches.c.batch_no == batch_no)).scalar()
    return status == "PERSISTED"


def staged(sync_hid: str, batch_no: int, stage: str) -> Any:
    """A staged JSON part of a batch; StagedBatchMissing when it is gone."""
    value = staging.get(sync_hid, batch_no, stage)
    if value is None:
        raise StagedBatchMissing(f"staged {stage} of batch {batch_no} of sync {sync_hid} is gone "
                                 "(expired or lost); replay the batch's fetch")
    return value


# A normalized batch is staged in two parts so each later stage reads only what it needs: "norm" holds the
# small columns (source id, identity and content hashes per record, counts), "rows" the heavy ones, one line
# per record, `data JSON <TAB> raw JSON`, ready to go into COPY once escaped (JSON has no raw tab/newline).
def staged_norm(sync_hid: str, batch_no: int) -> dict[str, Any]:
    """The staged "norm" columns of a batch."""
    norm: dict[str, Any] = staged(sync_hid, batch_no, "norm")
    return norm


def staged_rows(sync_hid: str, batch_no: int, norm: dict[str, Any]) -> list[bytes]:
    """The staged "rows" lines of a batch, one per record of norm, in its order."""
    blob = staging.get_bytes(sync_hid, batch_no, "rows")
    if blob is None:
        raise StagedBatchMissing(f"staged rows of batch {batch_no} of sync {sync_hid} are gone "
                                 "(expired or lost); replay the batch's fetch")
    return blob.split(b"\n") if norm["h"] else []


def finished(ctx: SyncContext) -> bool:
    """Every page is fetched and each of its batches is persisted or failed (its archive is owed work)."""
    return _outcome(ctx) is not None


def _outcome(ctx: SyncContext) -> tuple[int, int] | None:
    """A finished sync's batches persisted and failed (None while it is not finished)."""
    sb = db.sync_batches.c
    with db.get_engine().connect() as conn:
        total = conn.execute(sa.select(db.sync_runs.c.pages_total).where(
            db.sync_runs.c.sync_history_id == ctx.sync_hid)).scalar()
        if total is None:
            return None
        persisted, failed = conn.execute(sa.select(
            sa.func.count().filter(sb.status == "PERSISTED"), sa.func.count().filter(sb.status == "FAILED"),
        ).where(sb.sync_history_id == ctx.sync_hid)).one()
    return (int(persisted), int(failed)) if persisted + failed >= total else None


def sync_finished(sync_hid: str) -> bool:
    return finished(load(sync_hid))


def close_due(sync_hid: str) -> bool:
    """The sync is finished and the caller is the first to find it so: it sends notify. The last two batches
    finishing together (or a batch's task run twice) each see the sync finished; one of them closes it. A
    claim holds for one outcome: a replayed batch or fetch that changes it closes the sync again. A claimer
    that dies before sending leaves the sync RUNNING and finished: the stall resume closes it."""
    return _claim_close(load(sync_hid))


def _claim_close(ctx: SyncContext) -> bool:
    outcome = _outcome(ctx)
    if outcome is None:
        return False
    key = names.close_claim_key(str(ctx.sync_hid), *outcome)
    return bool(get_redis().set(key, 1, nx=True, ex=frontier_ttl()))


def batch_failed(sync_hid: str, batch_no: int, error: str) -> bool:
    """A batch's task was dead-lettered: record the gap; returns whether the caller closes the sync now
    (close_due)."""
    ctx = load(sync_hid)
    with db.get_engine().begin() as conn:
        conn.execute(pg_insert(db.sync_batches).values(
            sync_history_id=ctx.sync_hid, batch_no=batch_no, status="FAILED",
            details={"error": redact(error)[:1000]}).on_conflict_do_nothing())
    return _claim_close(ctx)
