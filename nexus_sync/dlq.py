"""Reading and replaying the dead-letter queue (rows written by tasks.base.dead_letter)."""
from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from nexus_sync import db
from nexus_sync.errors import ConfigError
from nexus_sync.pipeline import utcnow


def list_entries(connector_id: uuid.UUID | None = None, task: str | None = None,
                 include_replayed: bool = False, limit: int = 200) -> list[Any]:
    d = db.dead_letters.c
    q = sa.select(db.dead_letters).order_by(d.failed_at.desc()).limit(limit)
    if connector_id:
        q = q.where(d.connector_id == connector_id)
    if task:
        q = q.where(d.task_name == task)
    if not include_replayed:
        q = q.where(d.replayed_at.is_(None))
    with db.get_engine().connect() as conn:
        return conn.execute(q).all()


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
