"""Prometheus metrics of the workers (prometheus-client in multiprocess mode: every pool child writes its
own files under NEXUS_METRICS_DIR; the worker's main process serves them all at /metrics)."""
from __future__ import annotations

import logging
from typing import Any

from kombu.transport.redis import PRIORITY_STEPS
from kombu.transport.redis import Channel as RedisChannel
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily

SYNC_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
SYNC_DURATION = Histogram("nexus_sync_duration_seconds", "Duration of a connector sync", ["connector"],
                          buckets=SYNC_BUCKETS)
SYNCS = Counter("nexus_syncs_total", "Syncs closed, by status", ["connector", "status"])
RECORDS = Counter("nexus_records_total", "Records by dedup outcome", ["connector", "outcome"])
STAGE_SECONDS = Histogram("nexus_stage_seconds", "Run time of a pipeline task", ["stage"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
DB_WRITE = Histogram("nexus_db_write_seconds", "Time of one batch's database write (persist)",
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.07, 0.1, 0.25, 0.5, 1, 2.5))
DEDUP_LOOKUPS = Counter("nexus_dedup_lookups_total", "Dedup lookups, by where the answer came from", ["source"])
ERRORS = Counter("nexus_task_errors_total", "Task failures by failure class of the error table",
                 ["task", "failure_type"])
RATE_LIMIT_WAIT = Counter("nexus_rate_limit_wait_seconds_total", "Seconds spent waiting on vendor rate limits",
                          ["connector"])
ARCHIVE_LAG = Histogram("nexus_archive_lag_seconds", "From a batch's persist to its archive in ClickHouse",
                        buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900))
QUEUES = ("sync", "archive")
log = logging.getLogger(__name__)


def observe_report(report: dict[str, Any]) -> None:
    """The sync is counted last: a scrape that sees it closed also sees its duration and records (each metric is
    its own file in multiprocess mode, read at scrape time)."""
    connector = report.get("connector", "?")
    if "duration_ms" in report:
        SYNC_DURATION.labels(connector).observe(report["duration_ms"] / 1000)
    for outcome in ("new", "updated", "unchanged", "invalid"):
        RECORDS.labels(connector, outcome).inc(report.get("records", {}).get(outcome, 0))
    SYNCS.labels(connector, report.get("status", "?")).inc()


def observe_stage(stage: str, seconds: float, result: dict[str, Any]) -> None:
    STAGE_SECONDS.labels(stage).observe(seconds)
    if stage == "persist" and "write_ms" in result:
        DB_WRITE.observe(result["write_ms"] / 1000)
    if stage == "dedup" and "new" in result:
        looked = result.get("new", 0) + result.get("updated", 0) + result.get("unchanged", 0)
        hits = result.get("cache_hits", 0)
        DEDUP_LOOKUPS.labels("redis").inc(hits)
        DEDUP_LOOKUPS.labels("postgres").inc(max(0, looked - hits))


def broker_lists(queue: str) -> list[str]:
    """The Redis lists that hold one queue's messages: kombu keeps one list per priority step (`sync` for 0,
    `sync\x06\x163` for 3, …) — a task sent NORMAL (3) or LOW (6) waits in a list other than `sync`."""
    return [queue] + [f"{queue}{RedisChannel.sep}{step}" for step in PRIORITY_STEPS if step]


class QueueDepth:
    """Queue lengths read from the broker at scrape time, every priority of a queue summed."""

    def collect(self) -> Any:
        from nexus_sync.redis_client import get_redis

        g = GaugeMetricFamily("nexus_queue_depth", "Tasks waiting in a queue", labels=["queue"])
        try:
            pipe = get_redis().pipeline(transaction=False)
            for q in QUEUES:
                for name in broker_lists(q):
                    pipe.llen(name)
            lengths = iter(pipe.execute())
            for q in QUEUES:
                g.add_metric([q], sum(next(lengths) for _ in broker_lists(q)))
        except Exception as exc:  # a scrape must answer even while Redis is away: the gauge is left out
            log.warning("queue depth not read from the broker: %s", type(exc).__name__)
            return
        yield g


def serve(port: int) -> None:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(QueueDepth())
    from nexus_sync.outbox.lag import OutboxLag

    registry.register(OutboxLag())
    start_http_server(port, addr="127.0.0.1", registry=registry)
