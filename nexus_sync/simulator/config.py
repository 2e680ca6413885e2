"""What a Simulator serves: seed, sizes, accepted credentials, token lifetime, per-minute limits."""
from __future__ import annotations

from dataclasses import dataclass, field

from nexus_sync.simulator.registry import discover
from nexus_sync.simulator.vendor import DEFAULT_SIZE


def _default_sizes() -> dict[str, int]:
    return {name: DEFAULT_SIZE for name in discover()}


def _default_credentials() -> dict[str, dict]:
    return {name: dict(cls.default_credentials) for name, cls in discover().items()}


def _default_rate_limits() -> dict[str, int]:
    return {name: cls.default_rate_limit for name, cls in discover().items()}


@dataclass
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0 = pick a free port
    seed: int = 42
    # records per vendor; a vendor missing here gets DEFAULT_SIZE
    sizes: dict[str, int] = field(default_factory=_default_sizes)
    # accepted credentials per vendor; a vendor missing here gets its module's defaults
    credentials: dict[str, dict] = field(default_factory=_default_credentials)
    token_ttl: int = 1799  # OAuth token lifetime (s) for vendors that issue tokens
    # requests per minute per vendor; over → 429 with the vendor's own headers
    rate_limit: dict[str, int] = field(default_factory=_default_rate_limits)
