"""Operating nexus-sync: beat schedules (RedBeat), Flower. Real processes on the embedded test stack."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from nexus_sync import catalog
from nexus_sync.dev import procs
from tests.conftest import SIM_SECRETS, STATE, add_secrets, worker_env


def clear_connector_entries() -> None:
    """RedBeat entries of connectors live in the session's Redis: each test starts and ends without any, so a
    beat started by a test only ever sees the entries that test made."""
    from nexus_sync import schedule

    app = schedule._app()
    with schedule._redis(app).lock(schedule.RECONCILE_LOCK, timeout=60, blocking_timeout=30):  # none running
        for key in schedule.connector_entry_keys(app):
            schedule._delete(app, key)


@pytest.fixture(autouse=True)
def _no_leftover_entries(stack: dict[str, Any]) -> Iterator[None]:
    clear_connector_entries()
    yield
    clear_connector_entries()


@pytest.fixture(scope="package")
def ops_worker(stack: dict[str, Any], secrets_file: Path) -> Iterator[procs.Proc]:
    proc = procs.start_worker(STATE / "logs" / "ops-worker.log", env=worker_env(), concurrency=2, name="ops")
    yield proc
    proc.stop()


def connector(sim: Any, vendor: str, secrets_file: Path, name: str | None = None, interval: str = "15m",
              priority: str = "NORMAL", enabled: bool = True, **config: Any) -> catalog.ConnectorSpec:
    """Write a connector row (no schedule reconcile: the tests decide when)."""
    name = name or f"{vendor}-{uuid.uuid4().hex[:8]}"
    add_secrets(secrets_file, name, SIM_SECRETS[vendor])
    spec = catalog.ConnectorSpec(name=name, type=vendor, tenant_id=uuid.uuid5(uuid.NAMESPACE_DNS, name),
                                 interval=interval, priority=priority, enabled=enabled,
                                 config={"base_url": sim.base_url(vendor), **config})
    catalog.apply([spec])
    return spec
