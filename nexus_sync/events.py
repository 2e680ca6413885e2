"""Kafka events: `connector.sync.complete` in the spec's format (Layer 8); the publishing every event uses."""
from __future__ import annotations

import os
import threading
from typing import Any, Iterable

import orjson

from nexus_sync.errors import TransientError

_producers: dict[tuple[int, str, int], Any] = {}
_lock = threading.Lock()
REPORT_GRACE = 5.0  # seconds past a message's own timeout for its delivery report to come back


def producer(bootstrap: str, message_timeout_ms: int = 30000) -> Any:
    from confluent_kafka import Producer

    key = (os.getpid(), bootstrap, message_timeout_ms)  # a producer must not cross a fork
    with _lock:
        if key not in _producers:
            _producers[key] = Producer({
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "message.timeout.ms": message_timeout_ms,
            })
        return _producers[key]


def publish(topic: str, key: str, event: dict[str, Any], bootstrap: str | None = None,
            timeout: float = 30.0) -> None:
    """Publish and wait for the broker's ack; TransientError if it does not come."""
    publish_many(topic, [(key, event)], bootstrap, timeout)


def publish_many(topic: str, keyed: Iterable[tuple[str, dict[str, Any]]], bootstrap: str | None = None,
                 timeout: float = 30.0) -> int:
    """Publish (key, event) pairs, then wait for every message's delivery report; TransientError if any
    failed. Each message gives up after `timeout` seconds of its own (message.timeout.ms) and the wait lasts
    past that, so a failure is final: nothing of this call goes out later, behind a caller that sends it
    again (giving up on the wait alone, as before, let a broker that came back take the message after all —
    a repeat on the topic). An event with an `event_id` carries it in a header too, for consumers that drop
    repeats without parsing. Returns how many were published."""
    if bootstrap is None:
        from nexus_sync.config import get_settings

        bootstrap = get_settings().kafka
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    p, sent = producer(bootstrap, int(timeout * 1000)), 0
    for key, event in keyed:
        value = orjson.dumps(event)
        headers = [("event_id", str(event["event_id"]).encode())] if event.get("event_id") else None
        try:
            p.produce(topic, key=key.encode(), value=value, headers=headers, on_delivery=on_delivery)
        except BufferError:  # the producer's local queue is full: let it drain, then queue this one
            p.flush(timeout)
            p.produce(topic, key=key.encode(), value=value, headers=headers, on_delivery=on_delivery)
        sent += 1
    remaining = p.flush(timeout + REPORT_GRACE)
    if remaining:  # not reported even so (should not happen): drop them rather than let them go out later
        p.purge()
        p.flush(0)
    if remaining or errors:
        raise TransientError(f"Kafka publish to {topic} failed: {errors[:3] or 'not acknowledged in time'}")
    return sent


def sync_complete_event(*, sync_id: str, connector_id: str, tenant_id: str, status: str, new: int,
                        updated: int, touched: int, duration_ms: int, errors: list[Any],
                        timestamp: str, event_id: str | None = None) -> dict[str, Any]:
    return {
        **({"event_id": event_id} if event_id else {}),
        "event_type": "connector.sync.complete",
        "sync_id": sync_id,
        "connector_id": connector_id,
        "tenant_id": tenant_id,
        "status": status,
        "records": {"new": new, "updated": updated, "touched": touched},
        "duration_ms": duration_ms,
        "errors": errors,
        "timestamp": timestamp,
    }
