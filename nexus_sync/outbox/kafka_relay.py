"""Event work to Kafka: the owed events published in order (each carries its event id in the payload and in
an `event_id` header, keyed as before), one broker round trip per run of events of the same topic."""
from __future__ import annotations

from itertools import groupby

from nexus_sync.config import get_settings
from nexus_sync.errors import TransientError
from nexus_sync.events import publish_many
from nexus_sync.outbox.drain import Outcome, Row


def send(_target: str, rows: list[Row]) -> Outcome:
    out = Outcome()
    timeout = get_settings().outbox_kafka_timeout_seconds
    for topic, group in groupby(rows, key=lambda r: str(r.payload["topic"])):
        batch = list(group)
        try:
            publish_many(topic, [(r.msg_key or "", r.payload["event"]) for r in batch], timeout=timeout)
        except TransientError as exc:  # the broker is away: the rest waits
            out.down = str(exc)
            return out
        out.done += [r.id for r in batch]
    return out
