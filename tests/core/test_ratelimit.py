"""The shared token bucket: every worker of a connector draws from one Redis budget."""
from __future__ import annotations

import threading
import time
import uuid

import pytest

from nexus_sync.errors import RateLimited
from nexus_sync.ratelimit import TokenBucket
from nexus_sync.redis_client import get_redis


def test_bucket_holds_many_threads_to_the_declared_rate(stack):
    key = f"nexus:ratelimit:test-{uuid.uuid4()}"
    per_minute = 600  # 9/s after the safety margin
    granted: list[float] = []
    lock = threading.Lock()

    def work():
        bucket = TokenBucket(get_redis(), key, per_minute)  # one per "worker", one budget in Redis
        for _ in range(6):
            bucket.acquire(sleep=time.sleep, inline_max=5)
            with lock:
                granted.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(4)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    rate = 9.0
    # 24 tokens, 9 in the bucket at the start: the other 15 take >= 15/9 s
    assert len(granted) == 24 and elapsed >= (24 - rate) / rate * 0.95


def test_long_wait_defers_instead_of_blocking(stack):
    bucket = TokenBucket(get_redis(), f"nexus:ratelimit:test-{uuid.uuid4()}", per_minute=1)
    bucket.acquire(sleep=time.sleep, inline_max=5)
    with pytest.raises(RateLimited) as err:
        bucket.acquire(sleep=time.sleep, inline_max=5)
    assert 60 < err.value.wait_seconds <= 67


def test_per_endpoint_budget_applies_only_to_its_path(stack):
    import responses

    from nexus_sync.http import HttpClient

    waits: list[float] = []
    client = HttpClient(sleep=lambda s: (waits.append(s), time.sleep(s)))
    key = f"nexus:ratelimit:test-{uuid.uuid4()}"
    client.endpoint_buckets = [("/search/jobs", TokenBucket(get_redis(), key, per_minute=60))]  # 0.9/s
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, "https://v.test/search/jobs", json={})
        rsps.add(responses.GET, "https://v.test/other", json={})
        for _ in range(5):
            client.request("GET", "https://v.test/other")
        assert waits == []  # another endpoint: no budget taken
        client.request("GET", "https://v.test/search/jobs")
        client.request("GET", "https://v.test/search/jobs")
    assert len(waits) == 1 and 0.5 < waits[0] <= 1.2  # the second call waited for the endpoint's budget
