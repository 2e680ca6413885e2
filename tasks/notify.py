"""One webhook delivery as a task: what `nexus-sync dlq replay` sends for a delivery the outbox relay gave up
on (nexus_sync.outbox.webhook_relay dead-letters it under this task's name). Deliveries themselves are owed
work drained by the relay."""
from __future__ import annotations

from typing import Any

from nexus_sync import names, webhooks
from nexus_sync.celery_app import app
from tasks.base import PipelineTask


@app.task(base=PipelineTask, name=names.WEBHOOK)
def webhook(subscriber: str, event: dict[str, Any]) -> dict:
    """POST one signed event to one subscriber (the event is small: counts, never records)."""
    return {"status": webhooks.deliver(subscriber, event)}
