"""PingOne's token endpoint is on the region's auth host: the simulator serves it under its prefix."""
from connectors.pingone.simulator import ENVIRONMENT


def config(sim) -> dict:
    return {"environment_id": ENVIRONMENT, "token_url": f"{sim.base_url('pingone')}/{ENVIRONMENT}/as/token"}
