"""Delivery work to one webhook subscriber (target `webhook:<name>`), in order. A subscriber that is away or
overloaded (no answer, 408, 429, 5xx) is waited for with backoff, never given up on; one that answers and
refuses (4xx, a redirect) or is no longer configured is tried task_max_retries more times, then the
delivery goes to the dead-letter queue as the webhook task it replaces (`nexus-sync dlq replay` sends it)."""
from __future__ import annotations

import logging
import uuid

from sqlalchemy.dialects.postgresql import insert as pg_insert

from nexus_sync import db, names, webhooks
from nexus_sync.config import get_settings
from nexus_sync.credentials import redact
from nexus_sync.errors import ConfigError
from nexus_sync.outbox.drain import Outcome, Row
from nexus_sync.outbox.store import WEBHOOK_PREFIX

log = logging.getLogger(__name__)


def send(target: str, rows: list[Row]) -> Outcome:
    out = Outcome()
    name = target[len(WEBHOOK_PREFIX):]
    for row in rows:
        try:
            webhooks.deliver(name, row.payload)
        except (webhooks.DeliveryFailed, ConfigError) as exc:
            if isinstance(exc, webhooks.DeliveryFailed) and exc.outage:
                out.down = str(exc)
                return out
            if row.attempts + 1 <= get_settings().task_max_retries:
                out.down, out.attempt = str(exc), True
                return out
            out.also.append(_dead_letter(name, row, exc))
            out.given_up.append(row.id)
            log.warning("webhook delivery %s to %s dead-lettered after %d attempts: %s", row.key, name,
                        row.attempts + 1, exc)
            continue
        out.done.append(row.id)
    return out


def _dead_letter(subscriber: str, row: Row, exc: Exception) -> object:
    """The dead_letters row of a delivery given up: the webhook task with its arguments, as before the outbox."""
    return pg_insert(db.dead_letters).values(
        id=uuid.uuid4(), task_name=names.WEBHOOK, task_id=f"outbox-{row.key}", args=[subscriber, row.payload],
        kwargs={}, headers={"outbox": {"target": WEBHOOK_PREFIX + subscriber, "key": row.key}},
        queue=None, connector_id=uuid.UUID(row.connector_id),
        sync_history_id=uuid.UUID(row.sync_hid) if row.sync_hid else None,
        exception_type=type(exc).__name__, error=redact(str(exc))[:4000], retries=row.attempts,
    ).on_conflict_do_nothing()
