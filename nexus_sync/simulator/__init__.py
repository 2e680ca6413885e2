"""Vendor simulator: each vendor's real API (paths, envelopes, paging, auth, rate-limit
answers) over local HTTP, with deterministic fake data and fault injection.

    from nexus_sync.simulator import SimConfig, Simulator
    sim = Simulator(SimConfig(sizes={"crowdstrike": 5000})).start()
    sim.base_url("crowdstrike")   # http://127.0.0.1:PORT/crowdstrike
    ...
    sim.stop()

The framework is this package: the request/answer types (messages), the per-minute budget (ratelimit),
fault knobs (faults), the VendorSim base class (vendor), which vendors exist (registry), SimConfig (config),
the HTTP plumbing (httpd) and the Simulator with its control plane (server); shared fake-data tools (data)
what the Microsoft vendors share (microsoft) and gvmd's GMP server (gmp). Each vendor's simulator lives beside its connector, in
``connectors/<type>/simulator.py``, registering a VendorSim subclass; :func:`discover` finds them.
"""
from nexus_sync.simulator.config import SimConfig
from nexus_sync.simulator.messages import BadRequest, Request, Response, json_response
from nexus_sync.simulator.registry import discover, missing_simulators, register, vendor_names
from nexus_sync.simulator.server import Simulator, serve_forever
from nexus_sync.simulator.vendor import SimHost, VendorSim, route

__all__ = ["BadRequest", "Request", "Response", "SimConfig", "SimHost", "Simulator", "VendorSim", "discover",
           "json_response", "missing_simulators", "register", "route", "serve_forever", "vendor_names"]
