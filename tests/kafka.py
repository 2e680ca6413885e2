"""Reading what the pipeline published on a Kafka topic, for assertions."""
from __future__ import annotations

import time
from typing import Any, Callable

import orjson


def read_events(bootstrap: str, topic: str, match: Callable[[dict[str, Any]], bool], want: int = 1,
                timeout: float = 120.0, linger: float = 0.0, keys: bool = False) -> list[dict[str, Any]]:
    """The topic's events that `match`, read from the start of every partition. The partitions are assigned,
    not subscribed: no consumer group to join, so a loaded machine makes this slower, never wrong. Returns as
    soon as `want` have come (then reads `linger` seconds more, for a duplicate right behind), or at the deadline
    with what came; `want=0` (nothing may be there) reads to the end the topic had when called, then lingers.
    `keys`: each event gets its message key as `_key` and its headers as `_headers`."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "tests-read-events",
                         "enable.auto.commit": False})
    got: list[dict[str, Any]] = []
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        deadline = time.monotonic() + timeout
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in partitions}
        unread = {p for p, end in ends.items() if end > 0}  # partitions not yet read to their end at the call
        lingering = False
        while time.monotonic() < deadline:
            if want == 0 and not unread and not lingering:
                deadline, lingering = min(deadline, time.monotonic() + linger), True
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error() and (msg.offset() or 0) + 1 >= ends.get(msg.partition() or 0, 0):
                unread.discard(msg.partition() or 0)
            if msg is not None and not msg.error() and msg.value() is not None:
                event = orjson.loads(msg.value())
                if match(event):
                    if keys:
                        event |= {"_key": msg.key().decode(),
                                  "_headers": {k: v.decode() for k, v in (msg.headers() or [])}}
                    got.append(event)
                    if len(got) == want:
                        deadline = min(deadline, time.monotonic() + linger)
    finally:
        consumer.close()
    return got
