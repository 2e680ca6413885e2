"""What a closed sync sets off: on the close that published its event, the trace's root span, the metrics and
the alert rules; on every close, its recovery (carried out once, however often notify runs)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nexus_sync import alerts, metrics, recovery, tracing
from nexus_sync.pipeline.changes import publish as publish_changes
from nexus_sync.pipeline.close import Closed


@dataclass(frozen=True)
class Announced:
    # for the webhook subscribers: the sync's event, its records.lifecycle parts, its alerts, record.changed
    webhook_events: list[dict[str, Any]]
    recovery: recovery.Plan | None

    def summary(self, closed: Closed) -> dict[str, Any]:
        """notify's task result."""
        return {"status": closed.report["status"], "sync_id": closed.report["sync_id"],
                "recovery": self.recovery.action if self.recovery else ""}


def announce(closed: Closed) -> Announced:
    report = closed.report
    events: list[dict[str, Any]] = []
    if closed.event is not None:  # first close with this outcome: count it, trace it, alert
        tracing.record_sync(closed.sync_hid, report, closed.started_at, closed.completed_at)
        metrics.observe_report(report)
        metrics.observe_archive_lag(closed.sync_hid)
        events.append(closed.event)
        events += closed.lifecycle_events  # records.lifecycle parts, published on Kafka with the event
        events += [alerts.alert(severity, report, message) for severity, message in alerts.evaluate(report)]
        events += publish_changes(closed)  # record.changed on Kafka; those a subscriber takes, for the webhooks
    return Announced(events, recovery.act(report))
