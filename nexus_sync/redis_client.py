"""One Redis connection pool per process and URL (broker, dedup cache, locks, staging)."""
from __future__ import annotations

from functools import lru_cache

import redis


@lru_cache(maxsize=4)
def redis_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5, health_check_interval=30)


def get_redis() -> redis.Redis:
    from nexus_sync.config import get_settings

    return redis_for(get_settings().redis)
