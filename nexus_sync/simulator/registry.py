"""Which vendors are simulated: each connector type's ``connectors/<type>/simulator.py``.

A vendor's simulator lives beside its connector and registers its :class:`VendorSim` subclass with
:func:`register`. :func:`discover` imports ``connectors.<type>.simulator`` for every registered connector
type (the connector package itself never imports it: production code never loads simulators), so adding a
vendor never touches the simulator framework.
"""
from __future__ import annotations

import importlib
import logging
import threading

import connectors
from nexus_sync.simulator.vendor import VendorSim

log = logging.getLogger(__name__)

_REGISTRY: dict[str, type[VendorSim]] = {}
_discovered = False
_discover_lock = threading.Lock()


def register(cls: type[VendorSim]) -> type[VendorSim]:
    """Class decorator: make a VendorSim subclass served under ``/<cls.name>``."""
    if not getattr(cls, "name", None):
        raise TypeError(f"{cls.__name__} needs a `name` (its URL prefix)")
    _REGISTRY[cls.name] = cls
    return cls


def simulator_module(connector_type: str) -> str:
    """The module that simulates ``connector_type``'s vendor."""
    return f"connectors.{connector_type}.simulator"


def simulator_path(connector_type: str) -> str:
    """Where that module's file must be, relative to the project root."""
    return f"connectors/{connector_type}/simulator.py"


def _import_simulator(connector_type: str) -> None:
    name = simulator_module(connector_type)
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if not exc.name or not name.startswith(exc.name):  # the simulator's own import is missing: say so
            raise
        # a connector without a simulator is served by none; tests/connectors/test_contract.py fails for it
        log.debug("connector type %s has no simulator (%s)", connector_type, simulator_path(connector_type))


def discover() -> dict[str, type[VendorSim]]:
    """Import every connector type's simulator module once; returns name → VendorSim class."""
    global _discovered
    with _discover_lock:
        if not _discovered:
            for connector_type in connectors.registry():
                _import_simulator(connector_type)
            _discovered = True
    return dict(sorted(_REGISTRY.items()))


def vendor_names() -> list[str]:
    return list(discover())


def missing_simulators() -> dict[str, str]:
    """Registered connector type → the file its simulator must be in, for every type no simulator serves."""
    simulated = discover()
    return {t: simulator_path(t) for t in sorted(connectors.registry()) if t not in simulated}
