"""Every command Redis runs while a test watches (MONITOR), for assertions on what went through the broker.

Event-driven at both ends: entering returns once Redis has answered MONITOR's OK (nothing run after that is
missed, however slowly the watching thread starts), and leaving sends a marker command and reads up to it
(everything run before leaving is in, however slowly the monitor stream arrives)."""
from __future__ import annotations

import threading
import time
import uuid
from typing import Any, Callable


class RedisMonitor:
    def __init__(self, redis: Any = None, keep: Callable[[str], bool] = lambda command: True) -> None:
        if redis is None:
            from nexus_sync.redis_client import get_redis

            redis = get_redis()
        self.redis = redis
        self.keep = keep
        self.commands: list[str] = []
        self._marker = f"redis-monitor-end-{uuid.uuid4()}"
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        try:
            with self.redis.monitor() as m:  # returns once MONITOR is on (its OK read)
                self._ready.set()
                for cmd in m.listen():
                    text = cmd["command"]
                    if self._marker in text:
                        return
                    if self.keep(text):
                        self.commands.append(text)
        except BaseException as exc:  # surfaced by __enter__ / __exit__
            self._failed = exc
            self._ready.set()

    def __enter__(self) -> "RedisMonitor":
        self._thread.start()
        if not self._ready.wait(30) or self._failed is not None:
            raise AssertionError(f"MONITOR did not start: {self._failed!r}")
        return self

    def wait_until(self, done: Callable[[list[str]], bool], timeout: float = 30.0) -> bool:
        """Wait (a deadline, not a duration) until `done(commands seen so far)`; returns whether it came."""
        deadline = time.monotonic() + timeout
        while not done(list(self.commands)):
            if time.monotonic() > deadline or not self._thread.is_alive():
                return False
            time.sleep(0.05)
        return True

    def __exit__(self, *exc: object) -> None:
        self.redis.echo(self._marker)
        self._thread.join(30)
        if self._thread.is_alive():
            raise AssertionError("the Redis monitor did not reach its end marker within 30 s")
