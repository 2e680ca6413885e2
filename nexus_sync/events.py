"""Kafka events: `connector.sync.complete` in the spec's format (Layer 8); the publishing every event uses."""
from __future__ import annotations

import os
import threading
from typing import Any, Iterable

import orjson

from nexus_sync.errors import TransientError

_producers: dict[tuple[int, str], Any] = {}
_lock = threading.Lock()


def producer(bootstrap: str) -> Any:
    from confluent_kafka import Producer

    key = (os.getpid(), bootstrap)  # a producer must not cross a fork
    with _lock:
        if key not in _producers:
            _producers[key] = Producer({
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "message.timeout.ms": 30000,
            })
        return _producers[key]


def publish(topic: str, key: str, event: dict[str, Any], bootstrap: str | None = None,
            timeout: float = 30.0) -> None:
    """Publish and wait for the broker's ack; TransientError if it does not come."""
    publish_many(topic, [(key, event)], bootstrap, timeout)


def publish_many(topic: str, keyed: Iterable[tuple[str, dict[str, Any]]], bootstrap: str | None = None,
                 timeout: float = 30.0) -> int:
    """Publish (key, event) pairs, then wait once for the broker's acks; TransientError if any does not come
    (what is still queued is purged then: the caller sends again, it must not also go out later). An event
    with an `event_id` carries it in a header too, for consumers that drop repeats without parsing.
    Returns how many were published."""
    if bootstrap is None:
        from nexus_sync.config import get_settings

        bootstrap = get_settings().kafka
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    p, sent = producer(bootstrap), 0
    for key, event in keyed:
        value = orjson.dumps(event)
        headers = [("event_id", str(event["event_id"]).encode())] if event.get("event_id") else None
        try:
            p.produce(topic, key=key.encode(), value=value, headers=headers, on_delivery=on_delivery)
        except BufferError:  # the producer's local queue is full: let it drain, then queue this one
            p.flush(timeout)
            p.produce(topic, key=key.encode(), value=value, headers=headers, on_delivery=on_delivery)
        sent += 1
    remaining = p.flush(timeout)
    if remaining:
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
