"""What a closed sync sets off here: on the close that owed its announcements, the trace's root span and the
metrics; on every close, its recovery (carried out once, however often notify runs). The announcements
themselves (Kafka events, webhooks, alerts) were owed in the close's transaction: the outbox relay sends them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nexus_sync import metrics, recovery, tracing
from nexus_sync.pipeline.close import Closed


@dataclass(frozen=True)
class Announced:
    recovery: recovery.Plan | None

    def summary(self, closed: Closed) -> dict[str, Any]:
        """notify's task result."""
        return {"status": closed.report["status"], "sync_id": closed.report["sync_id"],
                "recovery": self.recovery.action if self.recovery else ""}


def announce(closed: Closed) -> Announced:
    report = closed.report
    if closed.event is not None:  # first close with this outcome: count it, trace it
        tracing.record_sync(closed.sync_hid, report, closed.started_at, closed.completed_at)
        metrics.observe_report(report)
    return Announced(recovery.act(report))
