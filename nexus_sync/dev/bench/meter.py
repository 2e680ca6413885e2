"""What is measured while a phase runs: peak RSS and CPU seconds per process tree (Meter), and the size of
every task message on the broker (BrokerTap)."""
from __future__ import annotations

import re
import statistics
import threading
import time
from collections import defaultdict
from typing import Any

from nexus_sync import names
from nexus_sync.dev.bench.common import mb


class Meter:
    """During one phase: peak RSS of every process of the worker tree (sampled), and CPU seconds per
    component (worker, simulator, postgres, redis, clickhouse, kafka, harness)."""

    def __init__(self, roots: dict[str, int], rss_root: str | None = "worker", interval: float = 0.1):
        import psutil

        self._psutil = psutil
        self.roots, self.rss_root, self.interval = roots, rss_root, interval
        self.peaks: dict[int, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cpu0: dict[str, dict[int, float]] = {}
        self._reaped0: dict[str, float] = {}

    def _tree(self, pid: int) -> list[Any]:
        try:
            root = self._psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except self._psutil.Error:
            return []

    def _cpu(self, name: str) -> tuple[dict[int, float], float]:
        per: dict[int, float] = {}
        reaped = 0.0
        if name == "harness":  # its children are the workers and simulators, metered on their own
            t = self._psutil.Process(self.roots[name]).cpu_times()
            return {self.roots[name]: t.user + t.system}, 0.0
        for i, p in enumerate(self._tree(self.roots[name])):
            try:
                t = p.cpu_times()
            except self._psutil.Error:
                continue
            per[p.pid] = t.user + t.system
            if i == 0:  # children that ended and were reaped by the root
                reaped = t.children_user + t.children_system
        return per, reaped

    def _sample(self, root: int) -> None:
        # listing the tree scans /proc: do it once a second, read the known processes' RSS in between
        tree: list[Any] = []
        listed = 0.0
        while not self._stop.is_set():
            if time.monotonic() - listed > 1.0:
                tree, listed = self._tree(root), time.monotonic()
            for p in tree:
                try:
                    rss = p.memory_info().rss
                except self._psutil.Error:
                    continue
                if rss > self.peaks.get(p.pid, ("", 0))[1]:
                    self.peaks[p.pid] = ("main" if p.pid == root else "child", rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> Meter:
        for name in self.roots:
            self._cpu0[name], self._reaped0[name] = self._cpu(name)
        self.t0 = time.perf_counter()
        if self.rss_root:
            self._thread = threading.Thread(target=self._sample, args=(self.roots[self.rss_root],), daemon=True,
                                            name="bench-meter")
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall = time.perf_counter() - self.t0
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        self.cpu: dict[str, float] = {}
        for name in self.roots:
            per, reaped = self._cpu(name)
            before = self._cpu0[name]
            used = sum(v - before.get(pid, 0.0) for pid, v in per.items()) + (reaped - self._reaped0[name])
            self.cpu[name] = round(max(used, 0.0), 2)

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"wall_s": round(self.wall, 2), "cpu_s": self.cpu,
                               "cpu_s_total": round(sum(self.cpu.values()), 2)}
        if self.peaks:
            children = [rss for kind, rss in self.peaks.values() if kind == "child"]
            main = [rss for kind, rss in self.peaks.values() if kind == "main"]
            out["rss_mb"] = {"peak_any": mb(max(rss for _, rss in self.peaks.values())),
                             "peak_pool_child": mb(max(children)) if children else None,
                             "peak_main": mb(max(main)) if main else None,
                             "processes": len(self.peaks)}
        return out


class BrokerTap:
    """Redis MONITOR during a sync: the size of every task message pushed onto a queue, by task."""

    TASK_RE = re.compile(re.escape(names.SYNC_TASKS) + r"\w+")

    def __init__(self) -> None:
        self.sizes: dict[str, list[int]] = defaultdict(list)
        self.events: list[int] = []
        self._stop = threading.Event()

    def _watch(self) -> None:
        from nexus_sync.redis_client import get_redis

        with get_redis().monitor() as m:
            for cmd in m.listen():
                if self._stop.is_set():
                    return
                text = cmd["command"]
                if text.startswith(("LPUSH ", "RPUSH ")):
                    queue = text.split(" ", 2)[1]
                    if queue.startswith((names.PREFIX, "_kombu")):
                        continue
                    task = self.TASK_RE.search(text)
                    self.sizes[task.group(0) if task else queue].append(len(text) - len(queue) - 7)
                elif text.startswith("PUBLISH ") and "celeryev" in text:
                    self.events.append(len(text))

    def __enter__(self) -> BrokerTap:
        self._thread = threading.Thread(target=self._watch, daemon=True, name="bench-monitor")
        self._thread.start()
        time.sleep(0.3)
        return self

    def __exit__(self, *exc: Any) -> None:
        from nexus_sync.redis_client import get_redis

        self._stop.set()
        get_redis().ping()  # wakes the monitor loop
        self._thread.join(5)

    def result(self) -> dict[str, Any]:
        by_task = {t.removeprefix(names.SYNC_TASKS): {"messages": len(v), "bytes_median": int(statistics.median(v)),
                                                    "bytes_max": max(v)}
                   for t, v in sorted(self.sizes.items())}
        every = [n for v in self.sizes.values() for n in v]
        return {"by_task": by_task, "task_messages": len(every), "bytes_max": max(every) if every else 0,
                "bytes_total": sum(every), "task_event_messages": len(self.events),
                "task_event_bytes_total": sum(self.events)}
