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
NOTIFY = "tasks.sync.notify"
LEGACY_ARCHIVE = "tasks.sync.archive"  # the release before the outbox: see pipeline.upgrade
RECOVER_DUE = "tasks.sync.recover_due"
RESUME_STALLED = "tasks.sync.resume_stalled"
WEBHOOK = "tasks.notify.webhook"
RELAY_ARCHIVE = "tasks.outbox.relay_archive"
RELAY_EVENTS = "tasks.outbox.relay_events"
RECONCILE = "tasks.schedule.reconcile"


class Queues(str, Enum):
    SYNC = "sync"  # start, fetch, normalize, dedup, persist, notify, the events relay
    ARCHIVE = "archive"  # the archive relay (the embedded ClickHouse engine wants one process: `worker --help`)


# ---- Redis keys: every key of ours starts with PREFIX; each family is spelled here once
PREFIX = "nexus:"
BEAT_PREFIX = PREFIX + "beat:"  # RedBeat's own keys: nexus:beat:connector:<name>, nexus:beat::schedule, …
BEAT_RECONCILE_LOCK = PREFIX + "beat-reconcile:lock"
RECOVERY_QUEUE = PREFIX + "recovery"  # a sorted set of delayed re-runs of failed syncs


def lock_key(connector_id: object) -> str:
    """One sync at a time per connector."""
    return f"{PREFIX}lock:connector:{connector_id}"


def dedup_key(tenant_id: object, source: str) -> str:
    """The dedup cache of one connector: source id → content hash and last touch (v2: keyed by source id, not
    identity; the value's format: nexus_sync.pipeline.seen)."""
    return f"{PREFIX}dedup:v2:{tenant_id}:{source}"


def dedup_pattern(tenant_id: object) -> str:
    """Every dedup cache of a tenant, for SCAN."""
    return f"{PREFIX}dedup:v2:{tenant_id}:*"


def progress_key(sync_hid: str) -> str:
    return f"{PREFIX}sync:{sync_hid}:progress"


def seen_untouched_key(sync_hid: str) -> str:
    """A set of the source ids a sync saw without writing their last_seen (relatime: pipeline.seen)."""
    return f"{PREFIX}sync:{sync_hid}:seen_untouched"


def frontier_key(sync_hid: str) -> str:
    return f"{PREFIX}sync:{sync_hid}:next_fetch"


def fetches_key(sync_hid: str) -> str:
    """A hash: batch number → the fetch state its fetch was sent with (pipeline.ahead)."""
    return f"{PREFIX}sync:{sync_hid}:fetches"


def close_claim_key(sync_hid: str, persisted: int, failed: int) -> str:
    """Set by the one task that sends notify for a finished sync's outcome (pipeline.ledger.close_due)."""
    return f"{PREFIX}sync:{sync_hid}:closing:{persisted}:{failed}"


def stage_key(sync_hid: str, batch_no: int, stage: str) -> str:
    """A staged part of one batch (claim check)."""
    return f"{PREFIX}stage:{sync_hid}:{batch_no}:{stage}"


def recovery_done_key(sync_hid: str) -> str:
    return f"{PREFIX}recovery:done:{sync_hid}"


def ratelimit_key(connector_id: object, prefix: str = "") -> str:
    """A connector's token bucket (or one per path prefix)."""
    return f"{PREFIX}ratelimit:{connector_id}" + (f":{prefix}" if prefix else "")


def relay_kick_key(task_name: str) -> str:
    """Set for a second when a relay is kicked: kicks in that second are one."""
    return f"{PREFIX}outbox:kick:{task_name}"


def breaker_key(connector_id: object) -> str:
    return f"{PREFIX}breaker:{connector_id}"


def vendor_cache_prefix(vendor: str, connector: str, origin_hash: str) -> str:
    """A vendor's own cache (e.g. Qualys' knowledge base) for one connector and origin."""
    return f"{PREFIX}{vendor}:{connector}:{origin_hash}:"
