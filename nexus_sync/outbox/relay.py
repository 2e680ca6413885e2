"""The relay runs: archive work (on the archive queue: the embedded ClickHouse engine wants one process),
and event work (Kafka, then each webhook subscriber). Each run drains a bounded amount; beat starts one every
outbox_relay_seconds and persist and close kick one at once. Each run also tells the lag alerts (logged at
most every ALERT_LOG_SECONDS per message) and prunes done rows past outbox_keep_done_hours."""
from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from nexus_sync import db, names
from nexus_sync.config import get_settings
from nexus_sync.outbox import archive_relay, kafka_relay, lag, webhook_relay
from nexus_sync.outbox.drain import batch_condition, drain, owed_targets, utcnow
from nexus_sync.outbox.store import ARCHIVE, KAFKA, WEBHOOK_PREFIX
from nexus_sync.redis_client import get_redis

log = logging.getLogger(__name__)
ALERT_LOG_SECONDS = 300.0
KICK_SECONDS = 1  # kicks within this are one run, sent this much later: it drains what each owed
_logged: dict[str, float] = {}


def run_archive() -> dict[str, Any]:
    return {ARCHIVE: drain(ARCHIVE, archive_relay.send).as_dict()}


def archive_batch(sync_hid: str, batch_no: int) -> int:
    """Archive one batch's owed work now (tests, the bench): how many outbox rows were sent."""
    return drain(ARCHIVE, archive_relay.send, only=batch_condition(sync_hid, batch_no)).sent


def run_events() -> dict[str, Any]:
    out = {KAFKA: drain(KAFKA, kafka_relay.send).as_dict()}
    for target in owed_targets(WEBHOOK_PREFIX):
        out[target] = drain(target, webhook_relay.send).as_dict()
    _tell_alerts()
    _prune()
    return out


def _tell_alerts() -> None:
    now = time.monotonic()
    for severity, message in lag.alerts(lag.owed()):
        if now - _logged.get(message.split(" is ")[0], -ALERT_LOG_SECONDS) >= ALERT_LOG_SECONDS:
            _logged[message.split(" is ")[0]] = now
            log.warning("%s: %s", severity, message)


def _prune() -> None:
    o = db.outbox.c
    before = utcnow() - timedelta(hours=get_settings().outbox_keep_done_hours)
    with db.get_engine().begin() as conn:
        conn.execute(db.outbox.delete().where(o.id.in_(
            sa.select(o.id).where(o.done_at.is_not(None), o.done_at < before).limit(1000).scalar_subquery())))


def kick_due(task_name: str) -> bool:
    """Whether a kick of this relay should be sent now (the first within KICK_SECONDS)."""
    return bool(get_redis().set(names.relay_kick_key(task_name), 1, nx=True, ex=KICK_SECONDS))
