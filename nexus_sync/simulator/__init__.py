"""Vendor simulator: each vendor's real API (paths, envelopes, paging, auth, rate-limit
answers) over local HTTP, with deterministic fake data and fault injection.

    from nexus_sync.simulator import SimConfig, Simulator
    sim = Simulator(SimConfig(sizes={"crowdstrike": 5000})).start()
    sim.base_url("crowdstrike")   # http://127.0.0.1:PORT/crowdstrike
    ...
    sim.stop()

One module per vendor (crowdstrike.py, okta.py, ...), each registering a VendorSim
subclass; the server discovers them (see server.py).
"""
from nexus_sync.simulator.server import SimConfig, Simulator, VendorSim, register, route, serve_forever

__all__ = ["SimConfig", "Simulator", "VendorSim", "register", "route", "serve_forever"]
