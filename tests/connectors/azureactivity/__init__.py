"""ARM's token endpoint is on login.microsoftonline.com: the simulator serves it under its prefix."""
from tests.connectors import arm


def config(sim) -> dict:
    return arm.config(sim, "azureactivity")
