"""The SA key's token_uri is Google's: the simulator serves the token endpoint under its prefix."""


def config(sim) -> dict:
    return {"token_url": f"{sim.base_url('gcpscc')}/token", "parent": "organizations/123456789012"}
