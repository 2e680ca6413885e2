"""Carbon Black devices in the contract: the org key goes in the path."""


def config(sim) -> dict:
    return {"org_key": "7DESJ9GN"}
