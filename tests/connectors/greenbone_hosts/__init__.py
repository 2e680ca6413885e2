"""Greenbone hosts over GMP: base_url is the simulator's GMP server (Simulator.base_url); trust its CA."""
from __future__ import annotations

from typing import Any


def config(sim: Any) -> dict[str, Any]:
    return {"ca_file": str(sim.vendor("greenbone_hosts").ca_file)}
