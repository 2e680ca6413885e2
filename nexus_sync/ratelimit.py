"""A token bucket in Redis, shared by every worker process of a connector: the vendor sees one client."""
from __future__ import annotations

from typing import Any, Callable

from nexus_sync.errors import RateLimited

# KEYS[1] = bucket; ARGV = rate (tokens/s), capacity. Redis' own clock: workers' clocks may differ.
_TAKE = """
local rate, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or cap
local ts = tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(wait)
"""

SAFETY = 0.9  # stay a little under the vendor's declared limit


class TokenBucket:
    def __init__(self, redis: Any, key: str, per_minute: int, burst_seconds: float = 1.0):
        self.redis, self.key = redis, key
        self.rate = max(per_minute * SAFETY / 60.0, 1e-3)
        self.capacity = max(1.0, self.rate * burst_seconds)
        self._script = redis.register_script(_TAKE)

    def try_take(self) -> float:
        """Take a token: 0.0 when granted, else the seconds until one is due (nothing taken)."""
        return float(self._script(keys=[self.key], args=[self.rate, self.capacity]))

    def acquire(self, sleep: Callable[[float], None], inline_max: float) -> None:
        """Wait for a token in place when it is due soon; a long wait defers the task instead."""
        while True:
            wait = self.try_take()
            if wait <= 0:
                return
            if wait > inline_max:
                raise RateLimited(f"local rate budget of {self.key} exhausted", wait)
            sleep(wait)
