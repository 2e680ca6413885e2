"""Beat's own task: keep the connectors' RedBeat entries in step with the connectors table."""
from __future__ import annotations

from typing import Any

from nexus_sync import names, schedule
from nexus_sync.celery_app import app


@app.task(name=names.RECONCILE, acks_late=False)  # idempotent; the next minute redoes it
def reconcile() -> dict[str, Any]:
    """Create, update and remove connector schedules so they match the connectors table (idempotent)."""
    return schedule.reconcile().summary()
