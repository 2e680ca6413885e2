def config(sim):
    return {"token_url": sim.base_url("wiz") + "/oauth/token"}
