"""The contract every connector type meets against the simulator (real HTTP, vendor facts):
empty / one / many with page 2 / 401 / 429, and — through the real pipeline — rows stored and cursor saved.

A vendor joins by having a connector package, its simulator beside it (connectors/<type>/simulator.py, registering
a VendorSim named <type>) and tests/connectors/<type>/__init__.py (optional there: `config(sim) -> dict` of extra
connector config, `expected_ids(truth) -> set[str]`, `UNPAGED = "<why>"` for a vendor that answers a listing
whole). Every registered connector type is checked: one without a simulator fails here, naming the file it needs."""
from __future__ import annotations

import importlib
import subprocess
import sys
from typing import Any

import pytest

import connectors
from nexus_sync.errors import AuthError
from nexus_sync.simulator import SimConfig, Simulator, discover, missing_simulators
from tests.connectors.util import Sleeps, drain, make
from tests.pipeline.helpers import cursor_of, raw_rows, run_inline

TYPES = sorted(connectors.registry())


def no_simulator(missing: dict[str, str]) -> list[str]:
    """What the contract says about connector types without a simulator (type → the file it needs)."""
    return [f"connector {t!r} has no simulator: add {path} registering a VendorSim named {t!r}"
            for t, path in sorted(missing.items())]


def vendor_test_module(vendor: str) -> Any:
    try:
        return importlib.import_module(f"tests.connectors.{vendor}")
    except ModuleNotFoundError:
        return None


def extra_config(vendor: str, sim: Simulator) -> dict[str, Any]:
    mod = vendor_test_module(vendor)
    return mod.config(sim) if mod is not None and hasattr(mod, "config") else {}


def expected_ids(vendor: str, truth: dict[str, dict]) -> set[str]:
    mod = vendor_test_module(vendor)
    return mod.expected_ids(truth) if mod is not None and hasattr(mod, "expected_ids") else set(truth)


def page_size(vendor: str) -> int:
    return min(10, connectors.get(vendor).Config.model_fields["page_size"].metadata[-1].le or 10)


def secrets(vendor: str) -> dict[str, str]:
    return dict(discover()[vendor].default_credentials)


def connector_for(vendor: str, sim: Simulator, tmp_path: Any, creds: dict[str, str] | None = None,
                  sleeps: Sleeps | None = None) -> Any:
    return make(connectors.get(vendor), sim.base_url(vendor), creds or secrets(vendor), tmp_path, sleep=sleeps,
                page_size=page_size(vendor), **extra_config(vendor, sim))


@pytest.fixture
def simulator(request):
    sims: list[Simulator] = []

    def start(vendor: str, size: int) -> Simulator:
        missing = missing_simulators()
        if vendor in missing:
            pytest.fail(no_simulator({vendor: missing[vendor]})[0])
        s = Simulator(SimConfig(seed=99, sizes={vendor: size})).start()
        sims.append(s)
        return s

    yield start
    for s in sims:
        s.stop()


def test_every_connector_type_has_a_simulator():
    assert no_simulator(missing_simulators()) == []


def test_a_connector_type_without_a_simulator_fails_naming_its_file(monkeypatch):
    registered = connectors.registry()
    monkeypatch.setattr(connectors, "registry", lambda: {**registered, "acme": registered["okta"]})
    assert missing_simulators() == {"acme": "connectors/acme/simulator.py"}
    assert no_simulator(missing_simulators()) == [
        "connector 'acme' has no simulator: add connectors/acme/simulator.py registering a VendorSim named 'acme'"]


def test_connectors_never_load_their_simulators():
    """Production code imports every connector package, never a simulator: the simulator server loads those."""
    code = ("import sys, connectors; connectors.registry(); "
            "print(sorted(m for m in sys.modules if m.endswith('.simulator') or m.endswith('.simdata') "
            "or m.startswith('nexus_sync.simulator')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.parametrize("vendor", TYPES)
@pytest.mark.parametrize("size", [0, 1, 25])
def test_pages_cover_every_record_once(vendor, size, simulator, tmp_path):
    sim = simulator(vendor, size)
    conn = connector_for(vendor, sim, tmp_path)
    records, pages = drain(conn)
    ids = [conn.source_id(r) for r in records]
    assert len(ids) == len(set(ids)), "a record came twice"
    assert set(ids) == expected_ids(vendor, sim.truth(vendor))
    if size == 25 and getattr(vendor_test_module(vendor), "UNPAGED", None):  # the vendor has no paging (a reason)
        assert pages == 1
    elif size == 25:
        assert pages >= 2, "page 2 was never requested"


@pytest.mark.parametrize("vendor", TYPES)
def test_wrong_secret_is_an_auth_error(vendor, simulator, tmp_path):
    sim = simulator(vendor, 3)
    wrong = {k: "wrong-" + v for k, v in secrets(vendor).items()}
    with pytest.raises(AuthError):
        drain(connector_for(vendor, sim, tmp_path, creds=wrong))


@pytest.mark.parametrize("vendor", TYPES)
def test_rate_limits_are_waited_out_and_drop_nothing(vendor, simulator, tmp_path):
    sim = simulator(vendor, 25)
    sim.set_faults(vendor, rate_limit_every=3, retry_after_seconds=1)
    sleeps = Sleeps()
    conn = connector_for(vendor, sim, tmp_path, sleeps=sleeps)
    for _ in range(3 if getattr(vendor_test_module(vendor), "UNPAGED", None) else 1):  # a 3rd request, unpaged
        records, _ = drain(conn)
        assert {conn.source_id(r) for r in records} == expected_ids(vendor, sim.truth(vendor))
    assert sleeps and all(s >= 0.5 for s in sleeps), "the vendor's rate-limit answer was not honoured"


@pytest.mark.parametrize("vendor", TYPES)
def test_sync_stores_rows_and_saves_the_cursor(vendor, simulator, make_connector, secrets_file):
    from tests.conftest import add_secrets

    sim = simulator(vendor, 25)
    import uuid

    import nexus_sync.catalog as catalog

    name = f"{vendor}-{uuid.uuid4().hex[:8]}"
    add_secrets(secrets_file, name, secrets(vendor))
    catalog.apply([catalog.ConnectorSpec(name=name, type=vendor, tenant_id=uuid.uuid4(), config={
        "base_url": sim.base_url(vendor), "page_size": page_size(vendor), **extra_config(vendor, sim)})])
    row = catalog.get(name)
    _, report = run_inline(name)
    assert report["status"] == "SUCCESS", report
    stored = {r.source_id for r in raw_rows(row.tenant_id)}
    assert stored == expected_ids(vendor, sim.truth(vendor))
    if connectors.get(vendor).cursor_field:
        assert cursor_of(row.id), "no cursor saved"


@pytest.mark.parametrize("vendor", TYPES)
def test_fast_validation_is_pydantic_validation(vendor, simulator, tmp_path):
    """normalize validates through models.fast_validator; on real vendor shapes it must give exactly what the
    pydantic model gives (values, field order, and an error wherever pydantic raises one)."""
    from nexus_sync.models import DATA_MODELS, fast_validator

    sim = simulator(vendor, 150)
    conn = connector_for(vendor, sim, tmp_path)
    model = DATA_MODELS[conn.kind]
    fast = fast_validator(model)
    records, _ = drain(conn)
    assert records
    for rec in records:
        vendor_data = conn.normalize(rec)
        try:
            expected = model.model_validate(vendor_data).__dict__
        except ValueError:
            with pytest.raises(ValueError):
                fast(vendor_data)
            continue
        got = fast(vendor_data)
        assert list(got.items()) == list(expected.items())
