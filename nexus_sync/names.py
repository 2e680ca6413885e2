"""Names every process must agree on, spelled once: the Celery tasks (tasks/ registers under them; the CLI,
beat, recovery, chaos and the bench send to them) and the queues."""
from __future__ import annotations

from enum import Enum

SYNC_TASKS = "tasks.sync."  # the prefix of the pipeline's tasks
START_SYNC = "tasks.sync.start_sync"
FETCH = "tasks.sync.fetch"
NORMALIZE = "tasks.sync.normalize"
DEDUP = "tasks.sync.dedup"
PERSIST = "tasks.sync.persist"
ARCHIVE = "tasks.sync.archive"
NOTIFY = "tasks.sync.notify"
RECOVER_DUE = "tasks.sync.recover_due"
RESUME_STALLED = "tasks.sync.resume_stalled"
WEBHOOK = "tasks.notify.webhook"
RECONCILE = "tasks.schedule.reconcile"


class Queues(str, Enum):
    SYNC = "sync"  # start, fetch, normalize, dedup, persist, notify
    ARCHIVE = "archive"  # ClickHouse appends (the embedded engine wants one process: see `worker --help`)
