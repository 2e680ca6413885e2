"""Sync-level recovery: a FAILED sync is tried again after 5 minutes, then after 1 hour; after that it
is dead-lettered and an alert goes out. Retries wait in a Redis sorted set (not as Celery ETA tasks,
which a Redis broker would redeliver once they outlive the visibility timeout); beat's
`tasks.sync.recover_due` sends the ones that are due."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, cast

import orjson
from sqlalchemy.dialects.postgresql import insert as pg_insert

from nexus_sync import alerts, db, names
from nexus_sync.config import get_settings
from nexus_sync.redis_client import get_redis

QUEUE = names.RECOVERY_QUEUE


@dataclass
class Plan:
    action: str  # retry | dead_letter
    delay: float | None = None
    trigger: str | None = None


def delays() -> list[int]:
    return [int(x) for x in get_settings().recovery_delays.split(",") if x.strip()]


def plan(report: dict[str, Any]) -> Plan | None:
    if report.get("status") != "FAILED":
        return None
    trigger = report.get("trigger") or "manual"
    attempt = int(trigger.split("-", 1)[1]) if trigger.startswith("recovery-") else 0
    steps = delays()
    if attempt < len(steps):
        return Plan("retry", steps[attempt], f"recovery-{attempt + 1}")
    return Plan("dead_letter")


def act(report: dict[str, Any]) -> Plan | None:
    """Carry out the plan for a closed sync, once (notify may run twice)."""
    p = plan(report)
    if p is None or not get_redis().set(names.recovery_done_key(report['sync_id']), 1, nx=True, ex=7 * 86400):
        return None
    if p.action == "retry":
        entry = orjson.dumps({"connector": report["connector"], "trigger": p.trigger,
                              "after": report["sync_id"]})
        get_redis().zadd(QUEUE, {entry: time.time() + (p.delay or 0)})
    else:
        give_up(report)
    return p


def due(now: float | None = None) -> list[dict[str, Any]]:
    """Take the retries that are due (each exactly once, whoever calls)."""
    r = get_redis()
    taken = []
    for raw in cast("list[bytes]", r.zrangebyscore(QUEUE, 0, now or time.time())):
        if r.zrem(QUEUE, raw):  # another caller may have taken it first
            taken.append(orjson.loads(raw))
    return taken


def pending() -> list[tuple[dict[str, Any], float]]:
    scored = cast("list[tuple[bytes, float]]", get_redis().zrange(QUEUE, 0, -1, withscores=True))
    return [(orjson.loads(m), s) for m, s in scored]


def give_up(report: dict[str, Any]) -> None:
    """Out of recovery attempts: a dead letter that replays as a fresh sync, and an alert."""
    error = "; ".join(str(e.get("error")) for e in report.get("errors") or []) or "sync failed"
    with db.get_engine().begin() as conn:
        conn.execute(pg_insert(db.dead_letters).values(
            id=uuid.uuid4(), task_name=names.START_SYNC, task_id=f"recovery-{report['sync_id']}",
            args=[], kwargs={"connector": report["connector"], "trigger": "dlq-replay"},
            connector_id=uuid.UUID(report["connector_id"]),
            exception_type="SyncFailed", error=f"sync failed after {len(delays())} recovery attempts: {error}"[:4000],
            retries=len(delays()),
        ).on_conflict_do_nothing())
    alerts.alert("critical", report, f"sync of {report['connector']} failed {len(delays()) + 1} times; dead-lettered")

