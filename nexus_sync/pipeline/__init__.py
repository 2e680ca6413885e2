"""The sync pipeline's stages as plain functions; tasks/ wraps each in a Celery task.

start → fetch (one page per call, staged in Redis) → per batch: normalize → dedup → persist (its archive
owed) → close (once per sync, when every batch is persisted; its announcements owed) → announce. What is owed
goes out through the outbox relay (nexus_sync.outbox). Every stage is idempotent: run twice, same rows, same
counts.

    context        the sync's context, the task message's sync (task_ref), progress mark, fetch frontier
    ids            row ids, archive ids, UTC times
    ledger         sync_batches and the staged parts: what each stage reads, when a sync is finished
    starting       lock, sync_history RUNNING, the starting cursor; the lock's release
    fetching       one vendor page staged (or a vendor job not ready yet: fetch again later)
    normalizing    vendor records → typed records with identity and content hashes
    deduplicating  NEW / UPDATED / UNCHANGED
    persisting     raw_data, last_seen, the batch's ledger row (+ record changes, entity links: nexus_sync.entities)
    changes        watched-field changes recorded at persist, announced as record.changed
    completeness   the vendor's totals per endpoint against what was fetched
    lifecycle      missing_since after a complete full sync, the records.lifecycle event, retention
    owing          what persist and close owe the outbox: archive rows, events, webhook deliveries
    archiving      one batch's archive work sent now (tests, bench; the relay does it otherwise)
    close          the sync's close: report, cursor, announcements owed (Closed)
    announce       what a close sets off: trace, metrics, recovery
    resume         stalled syncs and the typed steps that move them on
"""
from __future__ import annotations

from nexus_sync.pipeline.announce import Announced, announce
from nexus_sync.pipeline.archiving import archive
from nexus_sync.pipeline.close import Closed, close_sync
from nexus_sync.pipeline.context import (
    TASK_PARAMS,
    Frontier,
    SyncContext,
    TaskRef,
    frontier,
    load,
    log_context,
    mark_progress,
    task_ref,
)
from nexus_sync.pipeline.deduplicating import dedup
from nexus_sync.pipeline.fetching import Fetched, fetch, fetch_failed
from nexus_sync.pipeline.ids import ARCHIVE_NS, iso, utcnow, uuid4_texts, uuid5_text
from nexus_sync.pipeline.ledger import BATCH_STAGES, batch_failed, batch_persisted, close_due, sync_finished
from nexus_sync.pipeline.normalizing import normalize
from nexus_sync.pipeline.persisting import StoreError, persist
from nexus_sync.pipeline.resume import (
    CloseSync,
    LostBatch,
    LostFetch,
    ResumeBatch,
    ResumeFetch,
    Step,
    resume_plan,
    stalled,
)
from nexus_sync.pipeline.starting import StartResult, release_lock, start, start_failed
from nexus_sync.pipeline.upgrade import owe_staged_archive

__all__ = [
    "ARCHIVE_NS", "BATCH_STAGES", "TASK_PARAMS", "Announced", "CloseSync", "Closed", "Fetched", "Frontier",
    "LostBatch", "LostFetch", "ResumeBatch", "ResumeFetch", "StartResult", "Step", "StoreError", "SyncContext",
    "TaskRef", "announce", "archive", "batch_failed", "batch_persisted", "close_due", "close_sync", "dedup", "fetch",
    "fetch_failed", "frontier", "iso", "load", "log_context", "mark_progress", "normalize", "owe_staged_archive",
    "persist",
    "release_lock", "resume_plan", "stalled", "start", "start_failed", "sync_finished", "task_ref", "utcnow", "uuid4_texts",
    "uuid5_text",
]
