"""What every stage starts from: the sync's context (loaded once per process), the task message's sync and
batch, the sync's progress mark and fetch frontier, and the stage wrapper that pauses the cyclic GC."""
from __future__ import annotations

import functools
import gc
import logging
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

import orjson
import redis
import sqlalchemy as sa

import connectors
from connectors.base import Connector
from nexus_sync import catalog, db, names
from nexus_sync.config import get_settings
from nexus_sync.redis_client import get_redis

log = logging.getLogger(__name__)


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

    @property
    def vendor(self) -> type[Connector]:
        """The connector's class from the registry: its pure parts (kind, normalize, id and cursor fields,
        volatile fields, stream) without a live client. Only fetch builds an instance (ctx.connector.instance())."""
        return connectors.get(self.connector.type)

    @property
    def records(self) -> Connector:
        """The connector's record readers (source_id, cursor_value) on an instance given no context: no HTTP
        session, rate buckets or credentials. They read class attributes only (id_field, cursor_field, …)."""
        cls = self.vendor
        return cls.__new__(cls)


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


# ------------------------------------------------------------------ a task message's sync
# The parameters of the sync's tasks in order: messages are sent with keyword arguments; a message of the
# previous release (a dead letter replayed, a message queued across the upgrade) has them positional.
TASK_PARAMS: dict[str, tuple[str, ...]] = {
    names.START_SYNC: ("connector", "sync_hid", "trigger"),
    names.FETCH: ("sync_hid", "batch_no", "state", "since"),
    **{name: ("sync_hid", "batch_no") for name in (names.NORMALIZE, names.DEDUP, names.PERSIST)},
    names.NOTIFY: ("sync_hid",),
}


@dataclass(frozen=True)
class TaskRef:
    """The sync (and batch, connector) a task message is for; all None for a task of no sync."""

    sync_hid: str | None = None
    batch_no: int | None = None
    connector: str | None = None


def task_ref(task_name: str, args: Sequence[Any], kwargs: Mapping[str, Any], task_id: str | None) -> TaskRef:
    """The one reader of a task message's sync: its keyword arguments, else (previous release) its positional
    ones. A scheduled start_sync carries no sync id: its task id is the sync's."""
    params = TASK_PARAMS.get(task_name)
    if params is None:
        return TaskRef()
    given = {**dict(zip(params, args)), **kwargs}
    sync_hid = given.get("sync_hid") or (task_id if task_name == names.START_SYNC else None)
    batch_no = given.get("batch_no")
    connector = given.get("connector")
    return TaskRef(str(sync_hid) if sync_hid else None, batch_no if isinstance(batch_no, int) else None,
                   connector if isinstance(connector, str) else None)


def log_context(ref: TaskRef) -> dict[str, Any]:
    """The keys every log line of a task of this sync carries."""
    out: dict[str, Any] = {}
    if ref.connector:
        out["connector"] = ref.connector
    if ref.sync_hid is None:
        return out
    out["sync_hid"] = ref.sync_hid
    if ref.batch_no is not None:
        out["batch"] = ref.batch_no
    try:
        ctx = load(ref.sync_hid)
    except LookupError:  # start_sync runs before its sync exists: the keys above are all there is yet
        return out
    except Exception as exc:  # log context is best effort: the task itself reports what is wrong
        log.warning("log context of sync %s not loaded: %s", ref.sync_hid, type(exc).__name__)
        return out
    return out | {"sync_id": ctx.sync_id, "connector_id": str(ctx.connector.id), "connector": ctx.connector.name,
                  "tenant_id": str(ctx.connector.tenant_id)}


# ------------------------------------------------------------------ progress and frontier
def mark_progress(sync_hid: str, ahead: float = 0.0) -> None:
    """A stage of this sync just finished (or a task of it waits `ahead` seconds to run again): not stalled.
    Best effort: without it a sync only looks stalled sooner, and a resumed step is idempotent."""
    try:
        get_redis().set(names.progress_key(sync_hid), time.time() + ahead, ex=7 * 86400)
    except redis.RedisError as exc:
        log.warning("progress mark of sync %s not saved: %s", sync_hid, type(exc).__name__)


@dataclass(frozen=True)
class Frontier:
    """The fetch to send next, kept for `resume_plan`: batch None once every page is fetched."""

    batch: int | None
    state: dict[str, Any] | None
    since: str | None

    def encode(self) -> bytes:
        """As kept in Redis (the frontier key, and each batch's fetch state: pipeline.ahead)."""
        return orjson.dumps({"batch": self.batch, "state": self.state, "since": self.since})

    @classmethod
    def decode(cls, raw: bytes | str) -> Frontier:
        kept = orjson.loads(raw)
        return cls(kept["batch"], kept["state"], kept["since"])


def frontier_ttl() -> int:
    """How long the frontier and the fetch states are kept: as long as a staged part or the sync's lock."""
    return max(get_settings().stage_ttl_seconds, get_settings().lock_ttl_seconds)


def set_frontier(sync_hid: str, frontier: Frontier) -> None:
    get_redis().set(names.frontier_key(sync_hid), frontier.encode(), ex=frontier_ttl())


def frontier(sync_hid: str) -> Frontier | None:
    """What set_frontier kept, or None when it is gone."""
    raw = get_redis().get(names.frontier_key(sync_hid))
    return Frontier.decode(raw) if raw else None


# ------------------------------------------------------------------ the stage wrapper
@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic GC waits while a whole page is worked on.

    A 5000-record page is ~10^5 container objects that stay alive for the whole stage. Each time they cross
    the collector's allocation thresholds it would walk them (and, in a full collection, the worker's whole
    heap) to find cycles they do not have: 40 % of normalize's time on the benchmark's page (bench/SUMMARY.md).
    Collection resumes at the end; garbage with cycles made meanwhile (tracebacks) goes then."""
    was_enabled = gc.isenabled()  # not when nested, or paused by the caller
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


R = TypeVar("R")


def batch_stage(fn: Callable[[str, int], R]) -> Callable[[str, int], R]:
    """A stage of one batch: runs with the GC paused (gc_paused) and, once done, marks its sync's progress."""

    @functools.wraps(fn)
    def paused(sync_hid: str, batch_no: int) -> R:
        with gc_paused():
            result = fn(sync_hid, batch_no)
        mark_progress(sync_hid)
        return result

    return paused
