"""The spec's alert rules, checked on each closed sync (Prometheus has the same rules over time:
deploy/prometheus/alerts.yml)."""
from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from nexus_sync import db
from nexus_sync.config import get_settings
from nexus_sync.outbox.store import Owed, announcement, event_id, owe

SLOW_SYNC_SECONDS = 300  # "Sync Duration > 5 minutes (timeout warning)"
ERROR_RATE = 0.10  # "Error Rate > 10% (degradation)"


def evaluate(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(severity, message) for every rule this sync trips."""
    out: list[tuple[str, str]] = []
    name, status = report.get("connector"), report.get("status")
    if status == "FAILED":
        out.append(("critical", f"sync {report.get('sync_id')} of {name} FAILED: "
                                f"{'; '.join(str(e.get('error')) for e in report.get('errors') or [])[:500]}"))
    if report.get("duration_ms", 0) > SLOW_SYNC_SECONDS * 1000:
        out.append(("warning", f"sync of {name} took {report['duration_ms'] / 1000:.0f}s (> 5 min)"))
    errors = " ".join(str(e.get("error")) for e in report.get("errors") or [])
    if "AuthError" in errors or " 401" in errors or " 403" in errors:
        out.append(("critical", f"authentication failures syncing {name}: check its credentials"))
    rec = report.get("records") or {}
    total = rec.get("processed", 0) + rec.get("invalid", 0)
    failed = rec.get("invalid", 0) + report.get("pages_failed", 0)
    if status != "FAILED" and total and failed / total > ERROR_RATE:
        out.append(("warning", f"error rate of {name} is {100 * failed / total:.0f}% (> 10%)"))
    if status == "FAILED" and all_connectors_failed():
        out.append(("critical", "P1: the latest sync of every enabled connector FAILED"))
    return out


def all_connectors_failed() -> bool:
    sh, c = db.sync_history.c, db.connectors.c
    latest = (sa.select(sh.connector_id, sh.status,
                        sa.func.row_number().over(partition_by=sh.connector_id,
                                                  order_by=sh.started_at.desc()).label("n"))
              .where(sh.status.in_(("SUCCESS", "PARTIAL", "FAILED"))).subquery())
    with db.get_engine().connect() as conn:
        rows = conn.execute(sa.select(latest.c.status).join(db.connectors, c.id == latest.c.connector_id)
                            .where(latest.c.n == 1, c.enabled.is_(True))).scalars().all()
    return bool(rows) and all(s == "FAILED" for s in rows)


def alert_event(severity: str, report: dict[str, Any], message: str) -> dict[str, Any]:
    """The `connector.sync.alert` event of a rule a sync tripped; its id is stable for that sync and message."""
    return {"event_id": event_id(str(report.get("sync_id")), "alert", severity, message),
            "event_type": "connector.sync.alert", "severity": severity, "connector_id": report.get("connector_id"),
            "connector": report.get("connector"), "sync_id": report.get("sync_id"), "status": report.get("status"),
            "message": message, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def owed_alerts(report: dict[str, Any], subscribers: list[Any] | None = None) -> list[Owed]:
    """The alerts a closed sync trips, owed to Kafka and the webhook subscribers (in the close's transaction)."""
    return [work for severity, message in evaluate(report)
            for work in announcement(get_settings().alert_topic, str(report.get("connector_id")),
                                     alert_event(severity, report, message), str(report.get("connector_id")),
                                     subscribers=subscribers)]


def alert(severity: str, report: dict[str, Any], message: str) -> dict[str, Any]:
    """Owe an alert event to Kafka and the webhook subscribers, in a transaction of its own; returns it."""
    event = alert_event(severity, report, message)
    with db.get_engine().begin() as conn:
        owe(conn, announcement(get_settings().alert_topic, str(report.get("connector_id")), event,
                               str(report.get("connector_id"))))
    return event
