"""A vendor's per-minute request budget, sliding or in fixed windows."""
from __future__ import annotations

import math
import threading
import time
from collections import deque


class RateLimiter:
    """Requests per ``window`` seconds: sliding (timestamps) or fixed (aligned windows)."""

    def __init__(self, limit: int, window: float = 60.0, sliding: bool = True):
        self.limit = max(1, int(limit))
        self.window = window
        self.sliding = sliding
        self._hits: deque[float] = deque()
        self._window_start = 0.0
        self._count = 0
        self._lock = threading.Lock()

    def _roll(self, now: float) -> None:
        if self.sliding:
            edge = now - self.window
            while self._hits and self._hits[0] <= edge:
                self._hits.popleft()
        else:
            start = math.floor(now / self.window) * self.window
            if start != self._window_start:
                self._window_start, self._count = start, 0

    def _state(self, now: float) -> tuple[int, float]:
        if self.sliding:
            used = len(self._hits)
            reset = (self._hits[0] + self.window) if self._hits else now + self.window
        else:
            used = self._count
            reset = self._window_start + self.window
        return max(0, self.limit - used), reset

    def hit(self, now: float | None = None) -> tuple[bool, int, float]:
        """Count one request: (allowed, remaining after it, epoch when capacity frees up)."""
        now = time.time() if now is None else now
        with self._lock:
            self._roll(now)
            remaining, reset = self._state(now)
            if remaining <= 0:
                return False, 0, reset
            if self.sliding:
                self._hits.append(now)
            else:
                self._count += 1
            remaining, reset = self._state(now)
            return True, remaining, reset

    def peek(self, now: float | None = None) -> tuple[int, float]:
        now = time.time() if now is None else now
        with self._lock:
            self._roll(now)
            return self._state(now)

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()
            self._count = 0
