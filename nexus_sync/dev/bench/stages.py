"""Each pipeline stage timed in this process on staged data (new, unchanged, 10 % changed), and normalize
taken apart step by step: µs per record of whose code."""
from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

from nexus_sync.dev.bench.common import MAIN_VENDOR, say
from nexus_sync.dev.bench.harness import Bench


@dataclass
class _Round:
    """What one in-process round measured: seconds per stage, counts, staged bytes per part."""

    t: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    counts: Counter[str] = field(default_factory=Counter)
    staged: Counter[str] = field(default_factory=Counter)
    finished: bool = False

    def timed(self, stage: str, fn: Callable[[], Any]) -> Any:
        s = time.perf_counter()
        out = fn()
        self.t[stage] += time.perf_counter() - s
        return out


def stage_timings(bench: Bench, sim_info: dict[str, Any]) -> dict[str, Any]:
    """Each stage function in this process, three rounds on one fresh tenant; per record / per row."""
    import requests

    opts = bench.opts
    n = min(opts.records, max(opts.small, opts.page_size))
    conn = bench.connector(sim_info, MAIN_VENDOR, page_size=opts.page_size)
    out: dict[str, Any] = {}
    for round_name in ("new", "unchanged", "changed"):
        if round_name == "changed":
            requests.post(f"{sim_info['url']}/_sim/{MAIN_VENDOR}/mutate", json={"fraction": 0.1}, timeout=60)
        hid = str(uuid.uuid4())
        rnd = _run_round(conn, hid, n)
        if round_name == "new":
            out["normalize_breakdown"] = normalize_breakdown(conn, hid)
        out[round_name] = _round_result(rnd)
        u = out[round_name]["us_per_record"]
        say(f"stages, {round_name}: " + ", ".join(f"{k} {v} µs" for k, v in u.items())
            + f"; write {out[round_name]['write_ms_per_1000_rows']} ms/1000 rows")
    return out


def _run_round(conn: Any, hid: str, n: int) -> _Round:
    """One sync of ``conn`` driven stage by stage in this process, until ``n`` records (or the last page)."""
    from nexus_sync import pipeline, staging

    rnd = _Round()
    counts = rnd.counts
    started = rnd.timed("start", lambda: pipeline.start(conn.name, hid, "bench"))
    batch, state = 0, None
    nxt: dict[str, Any] | None = None
    while counts["records"] < n:
        nxt = _fetch(rnd, hid, batch, state, started.since)
        rnd.timed("normalize", lambda: pipeline.normalize(hid, batch))  # skipped: fetch staged it normalized
        rnd.timed("dedup", lambda: pipeline.dedup(hid, batch))
        for st in staging.STAGES:
            rnd.staged[st] += _strlen(staging.key(hid, batch, st))
        res = rnd.timed("persist", lambda: pipeline.persist(hid, batch))
        counts["write_ms"] += res.get("write_ms", 0)
        for k in ("new", "updated", "unchanged"):
            counts[k] += res.get(k, 0)
            counts["records"] += res.get(k, 0)
        counts["batches"] += 1
        rnd.timed("archive", lambda: pipeline.archive(hid, batch))
        if nxt is None:
            break
        batch, state = batch + 1, nxt
    rnd.finished = nxt is None
    if rnd.finished:  # the notify task's close (report, cursor, Kafka event); "finish" in the results
        rnd.timed("finish", lambda: pipeline.close_sync(hid))
    else:  # a partial sync (the page limit above): free the lock for the next round
        pipeline.release_lock(conn.id, hid)
    return rnd


def _fetch(rnd: _Round, hid: str, batch: int, state: dict[str, Any] | None,
           since: str | None) -> dict[str, Any] | None:
    """Stage page ``batch``; returns the next page's state (None after the last). A vendor job that is not
    ready is fetched again after its wait, as the fetch task would."""
    from nexus_sync import pipeline

    fetched = rnd.timed("fetch", lambda: pipeline.fetch(hid, batch, state, since))
    while fetched.wait is not None:
        time.sleep(fetched.wait)
        fetched = rnd.timed("fetch", lambda: pipeline.fetch(hid, batch, fetched.next, since))
    nxt: dict[str, Any] | None = fetched.next
    return nxt


def _round_result(rnd: _Round) -> dict[str, Any]:
    t, counts = rnd.t, rnd.counts
    r = counts["records"]
    written = counts["new"] + counts["updated"]
    return {
        "records": r, "batches": counts["batches"], "new": counts["new"], "updated": counts["updated"],
        "unchanged": counts["unchanged"],
        "seconds": {k: round(v, 4) for k, v in t.items()},
        "us_per_record": {k: round(v / r * 1e6, 1) for k, v in t.items() if k not in ("start", "finish")},
        "persist_write_ms": counts["write_ms"],
        "write_ms_per_1000_rows": round(counts["write_ms"] / max(r, 1) * 1000, 1),
        "write_ms_per_1000_written": round(counts["write_ms"] / written * 1000, 1) if written else None,
        "archive_ms_per_batch": round(t["archive"] / counts["batches"] * 1000, 1),
        "notify_ms": round(t["finish"] * 1000, 1) if rnd.finished else None,
        "staged_bytes_per_record": {k: round(v / max(r, 1)) for k, v in rnd.staged.items()},
    }


def normalize_breakdown(conn: Any, sync_hid: str) -> dict[str, float]:
    """µs per record of each step of normalize, on one staged page (batch 0): which part is whose code."""
    from nexus_sync import staging
    from nexus_sync.models import DATA_MODELS, content_hash, fast_validator, identity_key
    from nexus_sync.pipeline import rawprint
    from nexus_sync.redis_client import get_redis

    # archive dropped batch 0's staging: stage its raw page again from the vendor's first page
    inst = conn.instance()
    page = inst.fetch_page(None, None).records
    staging.put(sync_hid, 10**6, "raw", {"records": page, "fetched_at": "x"})  # as fetch stages it
    validate = fast_validator(DATA_MODELS[inst.kind])
    n = len(page)
    steps: dict[str, Callable[[], Any]] = {}
    steps["staging read (Redis GET + unzstd + JSON parse)"] = lambda: staging.get(sync_hid, 10**6, "raw")
    steps["connector normalize (connectors/)"] = lambda: [inst.normalize(r) for r in page]
    vendor = [inst.normalize(r) for r in page]
    steps["model validation (models.py, fast path)"] = lambda: [validate(v) for v in vendor]
    models = [validate(v) for v in vendor]
    steps["content hash (models.py)"] = lambda: [content_hash(m) for m in models]
    steps["identity hash (models.py)"] = lambda: [identity_key(inst.kind, conn.type, m) for m in models]
    fingerprint, blobs = rawprint.fingerprinter(type(inst)), [orjson.dumps(r) for r in page]  # encoded once
    steps["raw fingerprint (pipeline.rawprint, xxh3)"] = lambda: [fingerprint(b) for b in blobs]
    steps["source id + cursor (connectors/)"] = lambda: [(inst.source_id(r), inst.cursor_value(r)) for r in page]
    steps["encode staged rows (orjson)"] = lambda: [orjson.dumps(m) + b"\t" + orjson.dumps(r)
                                                    for m, r in zip(models, page)]
    rows = b"\n".join(orjson.dumps(m) + b"\t" + orjson.dumps(r) for m, r in zip(models, page))
    steps["staging write (zstd + Redis SET)"] = lambda: staging.put_batch(sync_hid, 10**6, {"rows": rows})
    out: dict[str, float] = {}
    for name, fn in steps.items():
        best = min(_timed(fn) for _ in range(3))
        out[name] = round(best / n * 1e6, 1)
    out["sum"] = round(sum(out.values()), 1)
    get_redis().delete(*(staging.key(sync_hid, 10**6, st) for st in ("raw", "rows")))
    return out


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _strlen(key: str) -> int:
    from nexus_sync.redis_client import get_redis

    return int(get_redis().strlen(key))
