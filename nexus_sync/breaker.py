"""Per-connector circuit breaker in Redis: stop hammering a vendor that keeps failing.

closed → (N consecutive FAILED syncs) → open → (cool-down) → half-open: one probe sync may run;
its success closes the breaker, its failure opens it again for another cool-down."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from nexus_sync import names
from nexus_sync.config import get_settings
from nexus_sync.redis_client import get_redis, text

_key = names.breaker_key


@dataclass
class Verdict:
    allowed: bool
    state: str  # closed | open | half_open
    reason: str | None = None


def check(connector_id: Any, sync_hid: str) -> Verdict:
    s = get_settings()
    r = get_redis()
    data = {text(k): text(v) for k, v in r.hgetall(_key(connector_id)).items()}
    opened = float(data.get("opened_at", 0) or 0)
    if not opened:
        return Verdict(True, "closed")
    failures = data.get("failures", "?")
    probe_at = opened + s.breaker_cooldown_seconds
    if time.time() < probe_at:
        return Verdict(False, "open", f"circuit open after {failures} consecutive failed syncs; "
                                      f"next probe after {time.strftime('%H:%M:%SZ', time.gmtime(probe_at))}")
    # half-open: exactly one probe (the first to claim it) may run
    if r.hsetnx(_key(connector_id), "probe", sync_hid) or data.get("probe") == sync_hid:
        return Verdict(True, "half_open")
    return Verdict(False, "half_open", "circuit half-open: a probe sync is already running")


def record(connector_id: Any, status: str) -> None:
    """After a sync: FAILED counts towards opening; anything that fetched data closes the breaker."""
    r = get_redis()
    key = _key(connector_id)
    if status == "FAILED":
        failures = r.hincrby(key, "failures", 1)
        if failures >= get_settings().breaker_threshold:
            r.hset(key, mapping={"opened_at": time.time()})
            r.hdel(key, "probe")
    elif status in ("SUCCESS", "PARTIAL"):
        r.delete(key)


def state(connector_id: Any) -> dict[str, str]:
    return {text(k): text(v) for k, v in get_redis().hgetall(_key(connector_id)).items()}
