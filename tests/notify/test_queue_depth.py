"""nexus_queue_depth counts every task waiting in a queue: kombu keeps one Redis list per priority step, and
tasks sent NORMAL (3) or LOW (6) used to be missed (only the list of priority 0 was read)."""
from __future__ import annotations

import uuid

from kombu import Connection

from nexus_sync import metrics
from nexus_sync.config import get_settings


def test_the_depth_sums_every_priority_of_a_queue(stack, monkeypatch):
    queue = f"depth-{uuid.uuid4().hex[:8]}"  # a queue no worker reads
    monkeypatch.setattr(metrics, "QUEUES", (queue,))
    with Connection(get_settings().redis) as conn:
        waiting = conn.SimpleQueue(queue)
        for priority in (0, 3, 3, 6):  # HIGH, NORMAL, NORMAL, LOW
            waiting.put({"n": priority}, priority=priority)
        try:
            (gauge,) = list(metrics.QueueDepth().collect())
            assert [(s.labels["queue"], s.value) for s in gauge.samples] == [(queue, 4)]
        finally:
            waiting.clear()
            waiting.close()
