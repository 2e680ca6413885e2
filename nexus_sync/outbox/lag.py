"""What is owed, per target: how many rows, how old the oldest, whether the target is down and until when it
is backed off; the alert rules over it (behind for 15 minutes; the outbox past its size or age bound), and
the same figures as Prometheus gauges (deploy/prometheus/alerts.yml has the rules over time)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

import sqlalchemy as sa

from nexus_sync import db
from nexus_sync.config import get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TargetLag:
    target: str
    owed: int
    oldest_seconds: float  # 0 when nothing is owed
    down_since: datetime | None = None
    retry_at: datetime | None = None
    last_error: str | None = None


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def owed(now: datetime | None = None) -> list[TargetLag]:
    """One TargetLag per target with owed work or known to be down, by target name."""
    at = now or _now()
    o = db.outbox.c
    with db.get_engine().connect() as conn:
        counts = {r.target: (int(r.n), r.oldest) for r in conn.execute(
            sa.select(o.target, sa.func.count().label("n"), sa.func.min(o.created_at).label("oldest"))
            .where(o.done_at.is_(None)).group_by(o.target))}
        down = {r.target: r for r in conn.execute(sa.select(db.outbox_targets))}
    out = []
    for target in sorted(set(counts) | set(down)):
        n, oldest = counts.get(target, (0, None))
        d = down.get(target)
        out.append(TargetLag(target, n, max(0.0, (at - oldest).total_seconds()) if oldest else 0.0,
                             d.down_since if d else None, d.retry_at if d else None, d.last_error if d else None))
    return out


def alerts(lags: list[TargetLag]) -> list[tuple[str, str]]:
    """(severity, message) for each rule the owed work trips: a target behind for outbox_behind_alert_seconds,
    the outbox holding more than outbox_max_rows or work older than outbox_max_age_seconds. New syncs go on
    landing in PostgreSQL regardless: these only tell."""
    s = get_settings()
    out: list[tuple[str, str]] = []
    for lag in lags:
        if lag.owed and lag.oldest_seconds > s.outbox_behind_alert_seconds:
            why = f" (down since {lag.down_since:%H:%M:%S}Z: {lag.last_error})" if lag.down_since else ""
            out.append(("warning", f"outbox: {lag.target} is {lag.oldest_seconds / 60:.0f} min behind, "
                                   f"{lag.owed} owed{why}"))
    total = sum(lag.owed for lag in lags)
    oldest = max((lag.oldest_seconds for lag in lags), default=0.0)
    if total > s.outbox_max_rows:
        out.append(("critical", f"outbox: {total} rows owed (bound {s.outbox_max_rows})"))
    if oldest > s.outbox_max_age_seconds:
        out.append(("critical", f"outbox: oldest owed work is {oldest / 3600:.1f} h old "
                                f"(bound {s.outbox_max_age_seconds / 3600:.1f} h)"))
    return out


class OutboxLag:
    """Gauges read from PostgreSQL at scrape time: nexus_outbox_owed and nexus_outbox_oldest_seconds by target."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        owed_g = GaugeMetricFamily("nexus_outbox_owed", "Work owed to a target (outbox rows not done)",
                                   labels=["target"])
        age_g = GaugeMetricFamily("nexus_outbox_oldest_seconds", "Age of the oldest work owed to a target",
                                  labels=["target"])
        try:
            lags = owed()
        except Exception as exc:  # a scrape must answer while PostgreSQL is away: the gauges are left out
            log.warning("outbox lag not read: %s", type(exc).__name__)
            return
        for lag in lags:
            owed_g.add_metric([lag.target], lag.owed)
            age_g.add_metric([lag.target], lag.oldest_seconds)
        yield owed_g
        yield age_g
