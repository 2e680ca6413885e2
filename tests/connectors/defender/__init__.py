"""Defender's token endpoint is on login.microsoftonline.com: the simulator serves it under its prefix."""
from nexus_sync.simulator.microsoft import TENANT


def config(sim) -> dict:
    return {"tenant": TENANT, "token_url": f"{sim.base_url('defender')}/{TENANT}/oauth2/v2.0/token"}
