"""Fault injection knobs of a simulated vendor: their defaults, validation and the seeded draw.

``Simulator.set_faults(vendor, **knobs)`` (or ``POST /_sim/<vendor>/faults``) sets them; the request
pipeline (:meth:`VendorSim.handle`) applies them to data requests.
"""
from __future__ import annotations

import random
import threading
from typing import Any, ClassVar

FAULT_DEFAULTS: dict[str, Any] = {
    "rate_limit_every": 0,  # every Nth data request → 429 with the vendor's headers
    "retry_after_seconds": 2.0,  # ... whose reset lies this far ahead
    "error_5xx_every": 0,  # every Nth data request → 503
    "token_expire_after_requests": 0,  # token-issuing vendors: a token dies after N data requests → 401
    "slow_ms": 0,  # delay every response
    "malformed_every": 0,  # every Nth data request → 200 with truncated JSON
    "broken_paths": [],  # these (vendor-relative) paths always answer 500
    # probabilistic faults for chaos runs: each data request draws once from a seeded RNG
    "rate_limit_rate": 0.0,  # → 429 with the vendor's headers
    "error_5xx_rate": 0.0,  # → 503
    "timeout_rate": 0.0,  # → no answer for timeout_seconds (clients with a shorter timeout give up)
    "timeout_seconds": 10.0,
    "reset_rate": 0.0,  # → the TCP connection is reset, no answer at all
    "truncated_rate": 0.0,  # → the body stops half way and the connection closes
    "malformed_rate": 0.0,  # → 200 with broken JSON
}
RATE_FAULTS = ("rate_limit_rate", "error_5xx_rate", "timeout_rate", "reset_rate", "truncated_rate",
               "malformed_rate")


def every(n: int, counter: int) -> bool:
    """True on every ``n``-th request (never when ``n`` is 0)."""
    return n > 0 and counter % n == 0


class FaultKnobs:
    """The fault state of one vendor (mixed into VendorSim): ``self.faults`` and the "every Nth" counter."""

    name: ClassVar[str] = ""
    extra_knobs: ClassVar[dict[str, Any]] = {}  # vendor-specific set_faults knobs and defaults
    seed: int
    lock: threading.RLock
    faults: dict[str, Any]
    fault_counter: int

    def reset_faults(self) -> None:
        with self.lock:
            self.faults = {**FAULT_DEFAULTS, "broken_paths": [], **self.extra_knobs}
            self.fault_counter = 0

    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        allowed = {**FAULT_DEFAULTS, **self.extra_knobs}
        unknown = sorted(set(knobs) - set(allowed))
        if unknown:
            raise ValueError(f"unknown fault knob(s) for {self.name}: {unknown}; known: {sorted(allowed)}")
        clean: dict[str, Any] = {}
        for key, value in knobs.items():
            default = allowed[key]
            if isinstance(default, list):
                if value is None:
                    value = []
                if isinstance(value, str):
                    value = [value]
                clean[key] = [self._normalize_path(str(p)) for p in value]
            elif isinstance(default, float):
                clean[key] = float(value or 0)
            else:
                clean[key] = int(value or 0)
            if not isinstance(default, list) and clean[key] < 0:
                raise ValueError(f"{key} must be >= 0")
        with self.lock:
            self.faults.update(clean)
            self.fault_counter = 0  # "every Nth" counts from the moment the knobs are set
            self.on_faults_changed()
            return dict(self.faults)

    def on_faults_changed(self) -> None:
        """Hook: restart vendor-specific fault counters."""

    def active_faults(self) -> dict[str, Any]:
        """The generic knobs that are switched on (for stats)."""
        return {k: v for k, v in self.faults.items() if v and k in FAULT_DEFAULTS and k != "retry_after_seconds"}

    def next_request(self) -> int:
        """Count one data request for the "every Nth" knobs; its number since the knobs were set."""
        with self.lock:
            self.fault_counter += 1
            return self.fault_counter

    def draw_fault(self) -> str | None:
        """The probabilistic fault (a RATE_FAULTS knob) this data request gets, if any: one seeded draw."""
        faults = self.faults
        if not any(faults[k] for k in RATE_FAULTS):
            return None
        with self.lock:
            if not hasattr(self, "fault_rng"):
                self.fault_rng = random.Random(f"{self.seed}:{self.name}:faults")
            x = self.fault_rng.random()
        for knob in RATE_FAULTS:
            x -= faults[knob]
            if x < 0:
                return knob
        return None

    def _normalize_path(self, path: str) -> str:
        path = "/" + path.lstrip("/")
        prefix = f"/{self.name}/"
        return path[len(prefix) - 1:] if path.startswith(prefix) else path
