"""Delivery of events to webhook subscribers: one task per (subscriber, event), retried, dead-lettered."""
from __future__ import annotations

from typing import Any

from nexus_sync import names, webhooks
from nexus_sync.celery_app import app
from tasks.base import PipelineTask


@app.task(base=PipelineTask, name=names.WEBHOOK)
def webhook(subscriber: str, event: dict[str, Any]) -> dict:
    """POST one signed event to one subscriber (the event is small: counts, never records)."""
    return {"status": webhooks.deliver(subscriber, event)}


def fan_out(event: dict[str, Any]) -> int:
    subs = webhooks.subscribers_for(event["event_type"], event)  # filters (kinds, fields, severity) first
    for sub in subs:
        webhook.delay(sub.name, event)
    return len(subs)
