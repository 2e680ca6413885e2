"""What the ARM connectors' tests share (defendercloud_alerts, defendercloud_assessments, azureactivity): the
simulator's config for them, a connector on it, and the checks every ARM listing meets the same way."""
from __future__ import annotations

from typing import Any

from nexus_sync.simulator import SimConfig, Simulator
from nexus_sync.simulator.arm import SUBSCRIPTION
from nexus_sync.simulator.microsoft import TENANT
from tests.connectors.util import Sleeps, drain, make

CREDS = {"client_id": "sim-arm-client", "client_secret": "sim-arm-secret"}
ARM = "https://management.azure.com"
TOKEN_URL = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"


def config(sim: Simulator, vendor: str) -> dict[str, Any]:
    """The connector config that points an ARM type at the simulator (token endpoint under its prefix)."""
    return {"tenant": TENANT, "subscription": SUBSCRIPTION,
            "token_url": f"{sim.base_url(vendor)}/{TENANT}/oauth2/v2.0/token"}


def connector(cls: Any, sim: Simulator, tmp_path: Any, creds: dict[str, str] | None = None, **kw: Any) -> Any:
    return make(cls, sim.base_url(cls.type), creds or CREDS, tmp_path, **{**config(sim, cls.type), **kw})


def on_arm(cls: Any, tmp_path: Any) -> Any:
    """The connector on management.azure.com itself (for `responses`), its token from TOKEN_URL."""
    import responses

    responses.add(responses.POST, TOKEN_URL, json={"token_type": "Bearer", "expires_in": 3599, "access_token": "at"})
    return make(cls, ARM, CREDS, tmp_path, tenant=TENANT, subscription=SUBSCRIPTION)


def check_empty_and_one(cls: Any, tmp_path: Any) -> None:
    for size in (0, 1):
        s = Simulator(SimConfig(seed=1, sizes={cls.type: size})).start()
        try:
            records, pages = drain(connector(cls, s, tmp_path))
            assert len(records) == size and pages == 1
        finally:
            s.stop()


def check_throttle_waited_out(cls: Any, sim: Simulator, tmp_path: Any, expected: int) -> None:
    """ARM's 429 with Retry-After, every second request: waited as long as it says, nothing dropped."""
    sim.set_faults(cls.type, rate_limit_every=2, retry_after_seconds=2)
    sleeps = Sleeps()
    records, _ = drain(connector(cls, sim, tmp_path, sleep=sleeps))
    assert len(records) == expected and sleeps and all(s >= 2 for s in sleeps)
