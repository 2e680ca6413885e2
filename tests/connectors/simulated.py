"""Fixtures for a vendor's own tests against its simulator: `sim_of(vendor, seed)` makes a `sim` fixture
(start(size) -> a running Simulator, all stopped after the test), and `fresh_tokens` forgets cached OAuth2
tokens between tests (import it into the test module under an autouse name)."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from connectors.machinery import OAuth2ClientCredentials
from nexus_sync.simulator import SimConfig, Simulator


def sim_of(vendor: str, seed: int) -> Any:
    @pytest.fixture
    def sim() -> Iterator[Callable[[int], Simulator]]:
        sims: list[Simulator] = []

        def start(size: int) -> Simulator:
            s = Simulator(SimConfig(seed=seed, sizes={vendor: size})).start()
            sims.append(s)
            return s

        yield start
        for s in sims:
            s.stop()

    return sim


@pytest.fixture(autouse=True)
def fresh_tokens() -> None:
    OAuth2ClientCredentials._tokens.clear()
