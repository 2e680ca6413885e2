"""The worker's log as evidence: per stage the task count and runtimes of given syncs, retries, failures."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson


def task_times(log: Path, start: int, sync_hids: set[str] | None = None) -> dict[str, Any]:
    """The worker's "stage done" lines (JSON) after an offset, of the given syncs: per stage the task
    count, summed and longest runtime; persist's own write_ms; retries and failures."""
    with open(log, "rb") as fh:
        fh.seek(start)
        lines = fh.read().splitlines()
    stats: dict[str, dict[str, Any]] = {}
    write_ms, written, retries, failures = 0, 0, 0, 0
    for line in lines:
        if not line.startswith(b"{"):
            continue
        try:
            ev = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if sync_hids is not None and ev.get("sync_hid") not in sync_hids:
            continue
        text = str(ev.get("event", ""))
        if ev.get("event") != "stage done":
            retries += " retry: " in text
            failures += " raised " in text and text.startswith("Task ")
            continue
        name, secs = ev.get("stage", "?"), float(ev.get("ms", 0)) / 1000
        s = stats.setdefault(name, {"tasks": 0, "sum_s": 0.0, "max_s": 0.0})
        s["tasks"] += 1
        s["sum_s"] += secs
        s["max_s"] = max(s["max_s"], secs)
        if name == "persist" and "write_ms" in ev:
            write_ms += ev["write_ms"]
            written += ev.get("new", 0) + ev.get("updated", 0) + ev.get("unchanged", 0)
    for s in stats.values():
        s["sum_s"], s["max_s"] = round(s["sum_s"], 3), round(s["max_s"], 3)
    return {"tasks": stats, "persist_write_ms": write_ms, "persist_rows": written, "retries": retries,
            "failures": failures}


def settle(log: Path, offset: int, quiet: float = 0.3, timeout: float = 5.0) -> None:
    """The last task lines reach the worker log just after the report is written: wait until it is quiet."""
    deadline = time.monotonic() + timeout
    size = log.stat().st_size
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = log.stat().st_size
        if now == size and b'"stage":"notify"' in log.read_bytes()[offset:].replace(b" ", b""):
            return
        size = now
