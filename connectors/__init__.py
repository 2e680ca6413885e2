"""Connector registry: every sub-package that defines CONNECTOR is a connector type (found by convention)."""
from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from pathlib import Path

from connectors.base import Connector

_HERE = Path(__file__).parent


class BrokenConnector(RuntimeError):
    pass


@lru_cache(maxsize=1)
def registry() -> dict[str, type[Connector]]:
    found: dict[str, type[Connector]] = {}
    for mod in pkgutil.iter_modules([str(_HERE)]):
        if not mod.ispkg or mod.name == "machinery":  # base, cursors, the machinery: each connector is a package
            continue
        try:
            module = importlib.import_module(f"connectors.{mod.name}")
        except Exception as exc:  # a broken connector must fail loudly, naming itself
            raise BrokenConnector(f"connector package connectors/{mod.name} fails to import: {exc!r}") from exc
        cls = getattr(module, "CONNECTOR", None)
        if cls is None or not (isinstance(cls, type) and issubclass(cls, Connector)):
            raise BrokenConnector(f"connectors/{mod.name} must define CONNECTOR, a Connector subclass")
        for attr in ("type", "title", "category", "kind", "auth", "paging", "id_field"):
            if not getattr(cls, attr, None):
                raise BrokenConnector(f"connectors/{mod.name}: CONNECTOR declares no {attr!r}")
        if cls.type in found:
            raise BrokenConnector(f"connector type {cls.type!r} declared twice")
        found[cls.type] = cls
    return found


def get(type_name: str) -> type[Connector]:
    types = registry()
    if type_name not in types:
        raise KeyError(f"unknown connector type {type_name!r} (known: {', '.join(sorted(types))})")
    return types[type_name]
