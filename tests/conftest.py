"""Shared fixtures: the real embedded stack (PostgreSQL, Redis, Kafka, ClickHouse engine), the vendor
simulator over real HTTP, and a real Celery worker process."""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

# the test stack lives in its own short path (unix socket limits) and never touches a dev's .nexus/; under
# pytest-xdist (make test: -n 2) each worker process has its own stack, so a fixed dir gets the worker's id
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
STATE = (Path(os.environ["NEXUS_TEST_STATE_DIR"] + (f"-{_WORKER}" if _WORKER else ""))
         if os.environ.get("NEXUS_TEST_STATE_DIR") else Path(tempfile.mkdtemp(prefix="nxt-", dir="/tmp")))
os.environ["NEXUS_STATE_DIR"] = str(STATE)
os.environ["NEXUS_BROKER_VISIBILITY_TIMEOUT"] = "8"  # a killed worker's tasks come back quickly
os.environ["NEXUS_BROKER_RESTORE_INTERVAL"] = "1"
os.environ.setdefault("NEXUS_RETRY_BACKOFF_MAX", "2")
for var in ("NEXUS_DATABASE_URL", "NEXUS_REDIS_URL", "NEXUS_KAFKA_BOOTSTRAP", "NEXUS_CLICKHOUSE_URL"):
    os.environ.pop(var, None)

from nexus_sync import catalog  # noqa: E402
from nexus_sync.config import get_settings  # noqa: E402
from nexus_sync.dev import devstack  # noqa: E402


@pytest.fixture(scope="session")
def stack() -> Iterator[dict[str, Any]]:
    get_settings.cache_clear()
    info = devstack.up(STATE)
    from nexus_sync.migrations import upgrade

    upgrade(get_settings().db_url)
    yield info
    from nexus_sync import events

    for producer in events._producers.values():
        producer.flush(5)
    events._producers.clear()
    devstack.down(STATE)
    if not os.environ.get("NEXUS_TEST_STATE_DIR"):
        shutil.rmtree(STATE, ignore_errors=True)


@pytest.fixture(scope="session")
def secrets_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secrets") / "secrets.yaml"
    path.write_text("{}\n")
    path.chmod(0o600)  # as a real credentials file should be (a looser mode is warned about)
    os.environ["NEXUS_CREDENTIALS_FILE"] = str(path)
    get_settings.cache_clear()
    import nexus_sync.credentials as creds

    creds._store = None
    return path


def add_secrets(path: Path, name: str, values: dict[str, str]) -> None:
    doc = yaml.safe_load(path.read_text()) or {}
    doc[name] = values
    path.write_text(yaml.safe_dump(doc))


SIM_SECRETS = {"crowdstrike": {"client_id": "sim-client", "client_secret": "sim-secret"},
               "okta": {"token": "sim-okta-token"}}


@pytest.fixture(scope="session")
def sim() -> Iterator[Any]:
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=7, sizes={"crowdstrike": 1200, "okta": 450})).start()
    yield s
    s.stop()


@pytest.fixture
def make_connector(stack: dict[str, Any], secrets_file: Path):
    """Register a connector with a fresh name and tenant, pointed at a simulator."""

    def make(simulator: Any, vendor: str, **config: Any) -> catalog.ConnectorRow:
        from nexus_sync.simulator import discover
        from tests.connectors.test_contract import extra_config

        name = f"{vendor}-{uuid.uuid4().hex[:8]}"
        add_secrets(secrets_file, name, dict(discover()[vendor].default_credentials))
        spec = catalog.ConnectorSpec(name=name, type=vendor, tenant_id=uuid.uuid4(), interval="15m",
                                     config={"base_url": simulator.base_url(vendor),
                                             **extra_config(vendor, simulator), **config})
        catalog.apply([spec])
        return catalog.get(name)

    return make


def worker_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("NEXUS_")}
