"""One Redis connection pool per process and URL (broker, dedup cache, locks, staging)."""
from __future__ import annotations

from functools import lru_cache

import redis


@lru_cache(maxsize=4)
def redis_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5, health_check_interval=30)


def text(value: bytes | str) -> str:
    """A reply as text: this client keeps replies as bytes (no decode_responses); redis-py types them bytes | str."""
    return value.decode() if isinstance(value, bytes) else value


def data(value: bytes | str) -> bytes:
    """A reply as bytes (see `text`)."""
    return value if isinstance(value, bytes) else value.encode()


def get_redis() -> redis.Redis:
    from nexus_sync.config import get_settings

    return redis_for(get_settings().redis)
