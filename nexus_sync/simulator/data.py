"""Deterministic fake vendor data for the simulator.

Shape comes from factory-boy factories (Faker-backed): a few hundred "profiles" per
vendor (platform/OS/agent/domain/tags for hosts, names for users). Volume comes from a
``random.Random`` seeded from (seed, vendor): every record draws its unique and varying
fields (ids, IPs, MACs, timestamps) from that generator, which keeps 100k records within
about a second or two.

Guarantees:

* ``generate(vendor, seed, size)`` is a pure function of its arguments: the same inputs
  give byte-identical records (for the installed Faker version).
* Vendors are independent: each vendor's generator is seeded from (seed, vendor), so the
  size of one vendor never changes another's data.
* For a given (vendor, seed), record ``i`` of a size-N dataset equals record ``i`` of any
  larger dataset (records are drawn in order and the profile pool does not depend on size).
* Record order is the generation order and is stable.

Each vendor registers its own generator with :func:`register_generator` from its simulator
(``connectors/<type>/simulator.py``, or its ``simdata.py``); this module holds only what several
vendors share: seeding, the dataset cache, factory-boy profiles, time helpers.
"""
from __future__ import annotations

import gc
import hashlib
import random
import threading
import time
from calendar import timegm
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable

import factory
import factory.random
import orjson

# The dataset's "now": generated timestamps lie before this instant; mutation round r
# stamps changed records inside [DATA_EPOCH + r days, DATA_EPOCH + r days + 1 h), so
# modification times only ever grow and are reproducible (no wall clock involved).
DATA_EPOCH = timegm((2024, 6, 1, 0, 0, 0))
DATA_START = timegm((2021, 1, 1, 0, 0, 0))
DAY = 86_400

PROFILE_COUNT = 256  # factory-built profiles per vendor (independent of size)

Generator = Callable[[int, int], list[dict]]
_GENERATORS: dict[str, Generator] = {}
_factory_lock = threading.Lock()  # factory-boy/Faker randomness is process-global


def register_generator(vendor: str) -> Callable[[Generator], Generator]:
    """Decorator: ``generate(seed, size) -> list[record]`` for a vendor."""

    def deco(fn: Generator) -> Generator:
        _GENERATORS[vendor] = fn
        return fn

    return deco


def vendor_seed(seed: int, vendor: str, *extra: Any) -> int:
    """A stable 64-bit seed for (seed, vendor, extra...): not Python's randomized hash()."""
    key = ":".join([str(seed), vendor, *map(str, extra)]).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


def vendor_rng(seed: int, vendor: str, *extra: Any) -> "FastRandom":
    return FastRandom(vendor_seed(seed, vendor, *extra))


def generate(vendor: str, seed: int, size: int) -> list[dict]:
    """A private, mutable copy of the dataset (the shared cached one is read-only)."""
    return orjson.loads(orjson.dumps(records(vendor, seed, size)))


_cache: dict[tuple[str, int, int], tuple[dict, ...]] = {}
_cache_lock = threading.Lock()
_CACHE_MAX = 8


def records(vendor: str, seed: int, size: int) -> tuple[dict, ...]:
    """The dataset for (vendor, seed, size), generated once per process and shared.

    READ-ONLY by convention: the simulator never edits these dicts in place (a mutation
    replaces a record by a changed copy), so many Simulator instances can share them.
    """
    key = (vendor, seed, size)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            return hit
        if vendor not in _GENERATORS:
            raise KeyError(f"no data generator registered for vendor {vendor!r}")
        if size < 0:
            raise ValueError("size must be >= 0")
        was_enabled = gc.isenabled()
        gc.disable()  # millions of fresh containers: the cyclic GC would only slow this down
        try:
            result = tuple(_GENERATORS[vendor](seed, size))
        finally:
            if was_enabled:
                gc.enable()
        if len(_cache) >= _CACHE_MAX:
            _cache.pop(next(iter(_cache)))
        _cache[key] = result
        return result


def build_profiles(factory_cls: type[factory.Factory], seed: int, vendor: str, n: int = PROFILE_COUNT) -> list[dict]:
    """Build ``n`` factory-boy objects with factory-boy's and Faker's random reseeded for (seed, vendor)."""
    with _factory_lock:
        state = factory.random.get_random_state()
        try:
            factory.random.reseed_random(vendor_seed(seed, vendor, "profiles"))
            return [dict(p) for p in factory_cls.build_batch(n)]
        finally:
            factory.random.set_random_state(state)


# ---------------------------------------------------------------- time helpers

@lru_cache(maxsize=8192)
def _day(day: int) -> str:
    return time.strftime("%Y-%m-%dT", time.gmtime(day * DAY))


def _hms(ts: int) -> str:
    s = ts % DAY
    return f"{_day(ts // DAY)}{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def iso_z(ts: int) -> str:
    """CrowdStrike style: 2022-03-15T07:42:07Z."""
    return _hms(int(ts)) + "Z"


def iso_ms_z(ts: int, ms: int = 0) -> str:
    """Okta style: 2022-04-01T10:00:00.000Z."""
    return f"{_hms(int(ts))}.{ms:03d}Z"


class FastRandom(random.Random):
    """random.Random plus cheap integer draws (randrange is ~10x slower; fine for fake data)."""

    def below(self, n: int) -> int:
        return int(self.random() * n)

    def between(self, lo: int, hi: int) -> int:
        """lo <= x < hi (lo if the range is empty)."""
        return lo + int(self.random() * (hi - lo)) if hi > lo else lo

    def pick(self, seq: Any) -> Any:
        return seq[int(self.random() * len(seq))]


def parse_iso(value: str) -> datetime:
    """ISO-8601 with Z / offset / date only → aware UTC datetime (ValueError if not ISO)."""
    v = value.strip()
    if v.endswith("Z") or v.endswith("z"):
        v = v[:-1] + "+00:00"
    dt = datetime.fromisoformat(v)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def mutation_time(rng: random.Random, round_no: int) -> int:
    """Modification instant for mutation round ``round_no`` (>= 1): later than every earlier round."""
    return DATA_EPOCH + round_no * DAY + 600 + rng.randrange(3000)
