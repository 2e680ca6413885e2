"""The outbox relays (nexus_sync.outbox): beat runs each every outbox_relay_seconds, persist and close kick
them at once. No retries and no dead letter: a run that fails (PostgreSQL away) is simply followed by the
next one, and a target that is down never fails a run."""
from __future__ import annotations

import logging

from celery import Task

from nexus_sync import names
from nexus_sync.celery_app import app
from nexus_sync.outbox import relay

log = logging.getLogger(__name__)


@app.task(base=Task, name=names.RELAY_ARCHIVE, ignore_result=True)
def relay_archive() -> dict:
    """Send the archive work owed to ClickHouse (runs on the archive queue)."""
    return relay.run_archive()


@app.task(base=Task, name=names.RELAY_EVENTS, ignore_result=True)
def relay_events() -> dict:
    """Send the events owed to Kafka and the deliveries owed to webhook subscribers."""
    return relay.run_events()


def kick(task: Task) -> None:
    """Run a relay in a second, so owed work goes out without waiting for beat: the first kick of a second
    sends it, the others within that second are covered by it (their work is owed before it starts)."""
    try:
        if relay.kick_due(task.name):
            task.apply_async(countdown=relay.KICK_SECONDS, expires=60)
    except Exception as exc:  # beat runs the relay within outbox_relay_seconds anyway
        log.warning("outbox relay %s not kicked: %s", task.name, type(exc).__name__)
