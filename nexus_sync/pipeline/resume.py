"""Stalled syncs and the steps that move one on, from what is durable.

Every step of a sync is a broker message, and a Redis broker that restarts just as a worker pops a message
loses it (the pop is kept, the reply dies with the connection): the chain then stops with nothing queued."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timezone
from typing import Any

import sqlalchemy as sa

from nexus_sync import db, names, staging
from nexus_sync.pipeline.ahead import sent
from nexus_sync.pipeline.completeness import recorded_pages
from nexus_sync.pipeline.context import frontier
from nexus_sync.redis_client import get_redis


@dataclass(frozen=True)
class ResumeBatch:
    """Send the batch's chain again from stage `first` (ledger.BATCH_STAGES)."""

    batch_no: int
    first: str


@dataclass(frozen=True)
class ResumeFetch:
    """Send the fetch of the frontier again."""

    batch_no: int
    state: dict[str, Any] | None
    since: str | None


@dataclass(frozen=True)
class LostBatch:
    """The batch's staged data is gone before it was persisted: record it failed."""

    batch_no: int
    why: str


@dataclass(frozen=True)
class LostFetch:
    """Where fetching was to go on is gone: fetching ends here, failed."""

    batch_no: int
    why: str


@dataclass(frozen=True)
class CloseSync:
    """Every batch is done: close the sync (notify)."""


Step = ResumeBatch | ResumeFetch | LostBatch | LostFetch | CloseSync


def stalled(stall_seconds: float, now: float | None = None) -> list[str]:
    """RUNNING syncs none of whose stages has finished (or said it waits) for stall_seconds."""
    now = time.time() if now is None else now
    sh = db.sync_history.c
    with db.get_engine().connect() as conn:
        running = conn.execute(sa.select(sh.id, sh.started_at).where(sh.status == "RUNNING")).all()
    if not running:
        return []
    marks = get_redis().mget([names.progress_key(str(r.id)) for r in running])
    out = []
    for r, mark in zip(running, marks):
        last = float(mark) if mark else r.started_at.replace(tzinfo=timezone.utc).timestamp()
        if now - last >= stall_seconds:
            out.append(str(r.id))
    return out


def resume_plan(sync_hid: str) -> list[Step]:
    """The steps that move a stalled sync on, from the batches' rows in Postgres, their staged parts in Redis
    and the fetch frontier. Sending a step that was only slow, not lost, is harmless: every stage is
    idempotent."""
    hid = uuid.UUID(sync_hid)
    sb = db.sync_batches.c
    with db.get_engine().connect() as conn:
        total = conn.execute(sa.select(db.sync_runs.c.pages_total).where(
            db.sync_runs.c.sync_history_id == hid)).scalar()
        batches = {r.batch_no: r for r in conn.execute(sa.select(sb.batch_no, sb.status).where(
            sb.sync_history_id == hid))}
        staged = {int(b) for b in recorded_pages(conn, hid)}
    front = frontier(sync_hid)
    if total is not None:
        last = total - 1
    elif front is not None and front.batch is not None:
        last = front.batch - 1
    else:
        last = max(batches, default=-1)
    steps: list[Step] = []
    for n in range(last + 1):
        b = batches.get(n)
        if b is not None and b.status in ("FAILED", "PERSISTED"):  # persisted: its archive is owed work
            continue
        steps.append(_unpersisted(sync_hid, n, n in staged))
    if total is None:
        if front is not None and front.batch is not None:
            steps.append(ResumeFetch(front.batch, front.state, front.since))
        elif front is None:
            steps.append(LostFetch(last + 1, "where fetching was to go on is gone (expired or lost)"))
    return steps or [CloseSync()]


def _unpersisted(sync_hid: str, n: int, was_staged: bool) -> Step:
    """A batch not yet persisted goes on from the first stage whose input is staged; one never staged whose
    fetch state is known (its successor went out ahead of its staging: pipeline.ahead) is fetched again."""
    for part, first in (("dedup", "persist"), ("norm", "dedup"), ("raw", "normalize")):
        if staging.exists(sync_hid, n, part):
            return ResumeBatch(n, first)
    if not was_staged:
        again = sent(sync_hid, n)
        if again is not None:
            return ResumeFetch(n, again.state, again.since)
    return LostBatch(n, "its staged data is gone (expired or lost) before it was persisted")
