"""Greenbone speaks GMP over TLS, not HTTP: its simulator runs a GMP server beside the HTTP one; its base_url
is that server's address (Simulator.base_url); a connector trusts its self-signed certificate. Also the
helpers the greenbone and greenbone_hosts tests share."""
from __future__ import annotations

import time
from typing import Any, cast

from nexus_sync.simulator import SimConfig, Simulator
from tests.connectors.util import make

CREDS = {"username": "sim-admin", "password": "sim-gvmd-password"}


def config(sim: Any, vendor: str = "greenbone") -> dict[str, Any]:
    return {"ca_file": str(cast(Any, sim.vendor(vendor)).ca_file)}


def start(vendor: str, size: int, sims: list[Simulator]) -> Simulator:
    sim = Simulator(SimConfig(seed=7, sizes={vendor: size})).start()
    sims.append(sim)
    return sim


def connector(cls: Any, sim: Simulator, tmp_path: Any, creds: dict[str, str] | None = None, sleeps: Any = None,
              **settings: Any) -> Any:
    settings = {**config(sim, cls.type), "page_size": 10, **settings}
    return make(cls, sim.base_url(cls.type), creds or CREDS, tmp_path, sleep=sleeps, **settings)


def open_connections(sim: Simulator, vendor: str) -> int:
    """Connections the GMP server still holds, once it has seen every close (its threads notice at once)."""
    deadline = time.monotonic() + 3
    while sim.stats(vendor)["gmp_open"] and time.monotonic() < deadline:
        time.sleep(0.02)
    return int(sim.stats(vendor)["gmp_open"])
