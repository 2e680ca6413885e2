"""Reading and replaying the dead-letter queue (rows written by tasks.base.dead_letter)."""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from nexus_sync import db
from nexus_sync.errors import ConfigError
from nexus_sync.pipeline.ids import utcnow


def parse_age(text: str) -> timedelta:
    """'30m', '2h', '7d' → a timedelta; ConfigError naming the value otherwise."""
    import re

    m = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if not m:
        raise ConfigError(f"age {text!r}: use a number and s, m, h or d (e.g. 30m, 2h, 7d)")
    return timedelta(seconds=int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)])


def _filtered(q: Any, connector_id: uuid.UUID | None, task: str | None, older_than: timedelta | None,
              newer_than: timedelta | None) -> Any:
    d = db.dead_letters.c
    if connector_id:
        q = q.where(d.connector_id == connector_id)
    if task:
        q = q.where(d.task_name == task)
    if older_than is not None:
        q = q.where(d.failed_at < utcnow() - older_than)
    if newer_than is not None:
        q = q.where(d.failed_at >= utcnow() - newer_than)
    return q


def list_entries(connector_id: uuid.UUID | None = None, task: str | None = None,
                 include_replayed: bool = False, limit: int = 200, older_than: timedelta | None = None,
                 newer_than: timedelta | None = None) -> list[Any]:
    d = db.dead_letters.c
    q = _filtered(sa.select(db.dead_letters).order_by(d.failed_at.desc()).limit(limit), connector_id, task,
                  older_than, newer_than)
    if not include_replayed:
        q = q.where(d.replayed_at.is_(None))
    with db.get_engine().connect() as conn:
        return list(conn.execute(q).all())


def get_entry(entry_id: str) -> Any:
    try:
        key = uuid.UUID(entry_id)
    except ValueError:
        raise ConfigError(f"{entry_id!r} is not a dead-letter id") from None
    with db.get_engine().connect() as conn:
        row = conn.execute(sa.select(db.dead_letters).where(db.dead_letters.c.id == key)).first()
    if row is None:
        raise ConfigError(f"no dead letter {entry_id}")
    return row


def replay(entry_id: str | None) -> list[tuple[str, str]]:
    """Re-send one entry (or all waiting ones) with the original arguments; returns (entry, new task id)."""
    from nexus_sync.celery_app import app

    rows = [get_entry(entry_id)] if entry_id else list_entries()
    done = []
    for r in rows:
        new_id = str(uuid.uuid4())
        app.send_task(r.task_name, args=r.args, kwargs=r.kwargs, task_id=new_id)
        with db.get_engine().begin() as conn:
            conn.execute(db.dead_letters.update().where(db.dead_letters.c.id == r.id)
                         .values(replayed_at=utcnow(), replay_task_id=new_id))
        done.append((str(r.id), new_id))
    return done


def purge(connector_id: uuid.UUID | None = None, task: str | None = None, older_than: timedelta | None = None,
          replayed_only: bool = False) -> int:
    """Delete dead letters (all matching, or only those already replayed); returns how many."""
    q = _filtered(db.dead_letters.delete(), connector_id, task, older_than, None)
    if replayed_only:
        q = q.where(db.dead_letters.c.replayed_at.is_not(None))
    with db.get_engine().begin() as conn:
        return conn.execute(q).rowcount
