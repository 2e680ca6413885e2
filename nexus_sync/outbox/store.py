"""Owed work as outbox rows: the targets, the stable ids, the compressed payloads, and the one insert that
owes them (run inside the caller's transaction, so the work exists exactly when the state that caused it
does; a repeat of the same work — same target and key — is a no-op)."""
from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass
from typing import Any, Iterable

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from nexus_sync import compress, db, webhooks
from nexus_sync.config import get_settings

ARCHIVE = "archive"
KAFKA = "kafka"
WEBHOOK_PREFIX = "webhook:"
# event ids are uuid5(EVENTS_NS, "<what caused it>"): the same cause is the same event on every close
EVENTS_NS = uuid.UUID("0b7d5c1e-9a3f-4e2b-8c6d-6f7574626f78")
# archive work is uuid5(ARCHIVE_WORK_NS, "<sync>:<batch>"), also the ClickHouse insert's deduplication token
ARCHIVE_WORK_NS = uuid.UUID("3e9b1f7a-2c4d-4a8e-9f10-617263686976")


def webhook_target(subscriber: str) -> str:
    return WEBHOOK_PREFIX + subscriber


def event_id(*cause: str) -> str:
    """The stable id of the event a cause gives rise to: a consumer drops a repeat by it."""
    return str(uuid.uuid5(EVENTS_NS, ":".join(cause)))


def archive_key(sync_hid: str, batch_no: int) -> str:
    return str(uuid.uuid5(ARCHIVE_WORK_NS, f"{sync_hid}:{batch_no}"))


def pack(value: Any) -> bytes:
    return compress.compress(orjson.dumps(value))


def unpack(data: bytes) -> Any:
    """A payload pack made; one owed by the previous release is zlib-compressed."""
    return orjson.loads(compress.decompress(data) if compress.is_compressed(data) else zlib.decompress(data))


@dataclass(frozen=True)
class Owed:
    """One piece of work owed to a target; `payload` is what the relay sends (kept compressed until then)."""

    target: str
    key: str
    connector_id: str
    payload: Any
    sync_hid: str | None = None
    batch_no: int | None = None
    msg_key: str | None = None

    def values(self) -> dict[str, Any]:
        return {"target": self.target, "key": uuid.UUID(self.key), "connector_id": uuid.UUID(self.connector_id),
                "sync_history_id": uuid.UUID(self.sync_hid) if self.sync_hid else None,
                "batch_no": self.batch_no, "msg_key": self.msg_key, "payload": pack(self.payload)}


OWE_SQL = """
INSERT INTO outbox (target, key, connector_id, sync_history_id, batch_no, msg_key, payload)
VALUES (%(target)s, %(key)s, %(connector_id)s, %(sync_history_id)s, %(batch_no)s, %(msg_key)s, %(payload)s)
ON CONFLICT (target, key) DO NOTHING
"""


def owe(conn: sa.Connection, work: Iterable[Owed]) -> int:
    """Owe the work in the caller's transaction (SQLAlchemy); returns how many rows are new."""
    rows = [w.values() for w in work]
    if not rows:
        return 0
    stmt = pg_insert(db.outbox).values(rows).on_conflict_do_nothing(index_elements=["target", "key"])
    return int(conn.execute(stmt).rowcount or 0)


def owe_with_cursor(cur: Any, work: Owed) -> None:
    """Owe one piece of work on a DB-API cursor, inside its open transaction (persist's COPY path)."""
    values = work.values()
    cur.execute(OWE_SQL, {**{k: str(v) if isinstance(v, uuid.UUID) else v for k, v in values.items()}})


def announcement(topic: str, msg_key: str, event: dict[str, Any], connector_id: str, sync_hid: str | None = None,
                 subscribers: list[Any] | None = None) -> list[Owed]:
    """An event (it carries its `event_id`) owed to Kafka, and to each webhook subscriber that takes it (its
    delivery id derives from the event, so it is the same on every attempt). `subscribers`: loaded once by a
    caller announcing many events."""
    subs = webhooks.load(get_settings().webhooks_file) if subscribers is None else subscribers
    work = [Owed(KAFKA, event["event_id"], connector_id, {"topic": topic, "event": event}, sync_hid,
                 msg_key=msg_key)]
    work += [Owed(webhook_target(s.name), webhooks.delivery_id(s.name, event), connector_id, event, sync_hid)
             for s in subs if s.wants(event)]
    return work
