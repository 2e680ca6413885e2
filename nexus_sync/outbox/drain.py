"""The relay's core: drain one target's owed rows, a bounded batch per round, in order per connector. Each
row stays locked (FOR UPDATE SKIP LOCKED) from its claim until its outcome commits, so two relays never send
the same row at once, and a relay that dies mid-send leaves the row owed (the target's stable id makes the
repeat harmless). A target that is down is backed off (outbox_targets: exponential, capped) and never makes
the relay fail: the work waits in PostgreSQL."""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from nexus_sync import db
from nexus_sync.config import get_settings
from nexus_sync.outbox.store import unpack


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class Row:
    """An owed row as a sender sees it: its payload unpacked."""

    id: int
    key: str
    connector_id: str
    sync_hid: str | None
    batch_no: int | None
    msg_key: str | None
    payload: Any
    attempts: int
    created_at: datetime


@dataclass
class Outcome:
    """What a sender did with the rows it was given, in order: it stops at the first one that did not go."""

    done: list[int] = field(default_factory=list)
    also: list[Any] = field(default_factory=list)  # statements to commit with the rows' outcome
    given_up: list[int] = field(default_factory=list)  # out of attempts: dead-lettered by the sender
    down: str | None = None  # the target did not take the next row: it waits, the target backs off
    attempt: bool = False  # the target answered and refused that row (counts against its attempts)


Sender = Callable[[str, list[Row]], Outcome]


@dataclass
class Drained:
    sent: int = 0
    given_up: int = 0
    down: str | None = None
    backing_off: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "given_up": self.given_up, "down": self.down, "backing_off": self.backing_off}


def drain(target: str, send: Sender, *, batch: int | None = None, rounds: int | None = None,
          only: Any = None, now: Callable[[], datetime] = utcnow) -> Drained:
    """Send what the target is owed until nothing is left, it is down, or `rounds` batches are done. `only`
    (a condition on the outbox table) limits the drain to some rows, in no particular order."""
    s = get_settings()
    batch, rounds = batch or s.outbox_batch_rows, rounds or s.outbox_rounds
    result = Drained()
    if _backing_off(target, now()):
        result.backing_off = True
        return result
    for _ in range(rounds):
        with db.get_engine().begin() as conn:
            rows = _claim(conn, target, batch, only)
            if not rows:
                break
            outcome = send(target, rows)
            _settle(conn, target, rows, outcome, now())
        result.sent += len(outcome.done)
        result.given_up += len(outcome.given_up)
        if outcome.down is not None:
            result.down = outcome.down
            break
    return result


def _claim(conn: sa.Connection, target: str, batch: int, only: Any) -> list[Row]:
    """Lock up to `batch` owed rows no other relay holds; of each connector, only those with no row before
    them held elsewhere (in order per connector and target)."""
    o = db.outbox.c
    where = [o.target == target, o.done_at.is_(None)] + ([only] if only is not None else [])
    locked = conn.execute(sa.select(o.id, o.key, o.connector_id, o.sync_history_id, o.batch_no, o.msg_key,
                                    o.payload, o.attempts, o.created_at).where(*where)
                          .order_by(o.id).limit(batch).with_for_update(skip_locked=True)).all()
    if not locked:
        return []
    mine = {r.id for r in locked}
    ours = mine
    if only is None:
        ours, blocked = set(), set()
        for r in conn.execute(sa.select(o.id, o.connector_id).where(*where, o.id <= max(mine)).order_by(o.id)):
            if r.connector_id in blocked:
                continue
            if r.id in mine:
                ours.add(r.id)
            else:
                blocked.add(r.connector_id)
    return [Row(r.id, str(r.key), str(r.connector_id), str(r.sync_history_id) if r.sync_history_id else None,
                r.batch_no, r.msg_key, unpack(r.payload) if r.payload is not None else None, r.attempts,
                r.created_at) for r in locked if r.id in ours]


def _settle(conn: sa.Connection, target: str, rows: list[Row], outcome: Outcome, at: datetime) -> None:
    o = db.outbox.c
    if outcome.done:
        conn.execute(db.outbox.update().where(o.id.in_(outcome.done))
                     .values(done_at=at, payload=None, attempts=o.attempts + 1))
    if outcome.given_up:
        conn.execute(db.outbox.update().where(o.id.in_(outcome.given_up))
                     .values(done_at=at, payload=None, attempts=o.attempts + 1))
    for stmt in outcome.also:
        conn.execute(stmt)
    settled = set(outcome.done) | set(outcome.given_up)
    if settled:  # the target answered: a streak of failures (and its backoff) starts again from the next row
        conn.execute(db.outbox_targets.delete().where(db.outbox_targets.c.target == target))
    head = next((r for r in rows if r.id not in settled), None)
    if outcome.down is not None and head is not None:
        conn.execute(db.outbox.update().where(o.id == head.id).values(
            last_error=outcome.down[:1000], attempts=o.attempts + (1 if outcome.attempt else 0)))
        _target_down(conn, target, outcome.down, at)


def _target_down(conn: sa.Connection, target: str, error: str, at: datetime) -> None:
    t = db.outbox_targets.c
    failures = (conn.execute(sa.select(t.failures).where(t.target == target)).scalar() or 0) + 1
    retry_at = at + timedelta(seconds=backoff(failures))
    stmt = pg_insert(db.outbox_targets).values(target=target, failures=failures, down_since=at, retry_at=retry_at,
                                               last_error=error[:1000])
    conn.execute(stmt.on_conflict_do_update(index_elements=["target"], set_={
        "failures": failures, "retry_at": retry_at, "last_error": stmt.excluded.last_error,
        "down_since": sa.func.coalesce(t.down_since, stmt.excluded.down_since)}))


def backoff(failures: int) -> float:
    """1 s, 2 s, 4 s… capped at outbox_backoff_max_seconds, the upper half jittered (relays spread out)."""
    base = min(get_settings().outbox_backoff_max_seconds, 2.0 ** (failures - 1))
    return base / 2 + random.uniform(0, base / 2)


def _backing_off(target: str, at: datetime) -> bool:
    t = db.outbox_targets.c
    with db.get_engine().connect() as conn:
        retry_at = conn.execute(sa.select(t.retry_at).where(t.target == target)).scalar()
    return retry_at is not None and retry_at > at


def owed_targets(prefix: str | None = None) -> list[str]:
    """The targets some work is owed to (those starting with `prefix`)."""
    o = db.outbox.c
    q = sa.select(o.target).where(o.done_at.is_(None)).distinct()
    if prefix:
        q = q.where(o.target.startswith(prefix))
    with db.get_engine().connect() as conn:
        return sorted(conn.execute(q).scalars())


def batch_condition(sync_hid: str, batch_no: int) -> Any:
    o = db.outbox.c
    return sa.and_(o.sync_history_id == uuid.UUID(sync_hid), o.batch_no == batch_no)
