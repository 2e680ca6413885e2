"""The benchmark's phases, in the order they run: the RSS series, the main sync (fetch only, first sync, COPY
limit, unchanged, 10 % changed, stages in-process, profiles) and the full cycle of every connector type."""
from __future__ import annotations

import io
import math
import os
import statistics
import time
import uuid
from typing import Any

from nexus_sync.dev.bench import loader, relatime, vacuum
from nexus_sync.dev.bench.common import MAIN_VENDOR, ROOT, machine, mb, say, today
from nexus_sync.dev.bench.harness import Bench, Options
from nexus_sync.dev.bench.meter import Meter
from nexus_sync.dev.bench.profile import Profile
from nexus_sync.dev.bench.stages import stage_timings
from nexus_sync.dev.bench.targets import headline
from nexus_sync.dev.bench.worker_log import settle, task_times


def run(opts: Options) -> dict[str, Any]:
    """Every phase on a stack of its own, torn down at the end; returns the results."""
    b = Bench(opts)
    b.results = {"kind": "large" if opts.large else "main", "date": today(), "machine": machine(),
                 "options": {"records": opts.large or opts.records, "small": opts.small,
                             "page_size": opts.page_size, "worker_concurrency": b.concurrency,
                             "cycle_records": opts.cycle_records, "profile": opts.profile and Profile.available()},
                 "state_dir": str(b.state), "checks": {}}
    t0 = time.perf_counter()
    b.setup()
    try:
        if opts.large:
            phase_rss(b, opts.large, "large")
        else:
            phase_rss(b, opts.small, "small", tap=True)
            phase_main(b)
            phase_full_cycle(b)
    finally:
        b.teardown()
    b.results["total_s"] = round(time.perf_counter() - t0, 1)
    b.results["headline"] = headline(b.results)
    return b.results


def phase_rss(b: Bench, n: int, label: str, tap: bool = False) -> None:
    """One first sync of n records on a fresh worker: peak RSS (and broker message sizes)."""
    sim, info = b.simulator({MAIN_VENDOR: n}, label)
    worker, log = b.worker(f"rss-{label}")
    conn = b.connector(info, MAIN_VENDOR, page_size=b.opts.page_size)
    res = b.measured_sync(f"{n:,}-record first sync (fresh worker)", conn, worker, log, sim, tap=tap)
    b.results.setdefault("rss", {})[str(n)] = {"size": n, **res}
    b.check(f"rss-{label} sync SUCCESS with {n} new", res["status"] == "SUCCESS" and res["records"].get("new") == n)
    if label == "large":  # the same data again: the unchanged path at scale
        res2 = b.measured_sync(f"{n:,}-record unchanged re-sync", conn, worker, log, sim)
        b.results["rss"][str(n)]["unchanged_resync"] = res2
    b.stop(worker)
    b.stop(sim)


WITHIN_RUNS = 3  # unchanged re-syncs within the resolution; the median is the figure


def phase_main(b: Bench) -> None:
    import requests

    o, n = b.opts, b.opts.records
    sim, info = b.simulator({MAIN_VENDOR: n}, "main")
    worker, log = b.worker("main")
    conn = b.connector(info, MAIN_VENDOR, page_size=o.page_size)
    main: dict[str, Any] = {"records": n, "connector": conn.name}
    b.results["main"] = main

    say("fetch only: the simulator and the HTTP client, no pipeline (the simulator's limit)")
    main["fetch_only"] = fetch_only(b, conn, worker, sim)

    def run(label: str, settled: bool = True) -> dict[str, Any]:
        if settled:  # the previous phase's autovacuum is not this sync's (bench.vacuum)
            main.setdefault("settle_s", {})[label] = vacuum.settle()
        out = b.measured_sync(label, conn, worker, log, sim)
        out["touched"] = relatime.touched_rows(conn, out["started_at"])
        return out

    def load(label: str) -> dict[str, Any]:  # the hand-tuned loader: its CPU is the harness's (+ Postgres)
        main.setdefault("settle_s", {})[f"loader, {label}"] = vacuum.settle()
        with Meter(b.roots(worker, sim), rss_root=None) as meter:
            out = loader.load(conn, label)
        return {**out, "meter": meter.result()}

    main["first"] = run("first sync", settled=False)
    b.check("first sync: all new", main["first"]["records"].get("new") == n)
    say(f"COPY limit: the same {n:,} rows into a table LIKE raw_data INCLUDING ALL, {o.copy_reps}×")
    main["copy_limit"] = copy_limit(conn.tenant_id, o.copy_reps)
    main["first"]["vs_copy"] = round(main["first"]["records_per_s"] / main["copy_limit"]["records_per_s"], 3)
    loader.reset()
    main["loader"] = {"first": load("first")}

    # one figure of a noisy machine is a draw: WITHIN_RUNS consecutive syncs within the resolution, the median
    within = [run(f"unchanged re-sync within resolution ({k} of {WITHIN_RUNS})", settled=k == 1)
              for k in range(1, WITHIN_RUNS + 1)]
    b.check("unchanged re-syncs: all unchanged", all(r["records"].get("unchanged") == n for r in within))
    main["unchanged"] = {**sorted(within, key=lambda r: r["records_per_s"])[len(within) // 2],
                         "runs_records_per_s": [r["records_per_s"] for r in within]}
    b.check_last_seen(conn, main["first"]["started_at"], "unchanged within resolution")
    main["loader"]["unchanged"] = load("unchanged")
    _relatime_rows(b, main, conn, run)

    changed = requests.post(f"{info['url']}/_sim/{MAIN_VENDOR}/mutate", json={"fraction": 0.1},
                            timeout=60).json()["changed"]
    main["changed"] = run(f"10 % changed re-sync ({changed:,} changed)")
    rec = main["changed"]["records"]
    b.check("10 % changed: updated == changed", rec.get("updated") == changed and rec.get("unchanged") == n - changed)
    b.check("10 % changed: the changed rows' last_seen is this sync's", main["changed"]["touched"] >= changed)
    b.check_archive(conn, n + changed)
    main["loader"]["changed"] = load("10 % changed")
    loader.drop()
    b.results.setdefault("rss", {})[str(n)] = {
        "size": n, "meter": {"rss_mb": {k: max(main[p]["meter"]["rss_mb"][k] or 0 for p in
                                               ("first", "unchanged", "changed"))
                                        for k in ("peak_any", "peak_pool_child", "peak_main")}}}

    say("stage timings in this process on staged data (fresh tenant: new, unchanged, 10 % changed)")
    main["stages"] = stage_timings(b, info)

    if o.profile and Profile.available():
        main["profiles"] = profiles(b, info, worker)
    b.stop(worker)
    b.stop(sim)


def _relatime_rows(b: Bench, main: dict[str, Any], conn: Any, run: Any) -> None:
    """Every touch due (seen_resolution 0), then the steady state of a 15-minute schedule at the default."""
    n = b.opts.records
    relatime.set_resolution(conn, 0)
    main["touch_due"] = run("unchanged re-sync, every touch due (seen_resolution 0)")
    b.check("every touch due: all unchanged", main["touch_due"]["records"].get("unchanged") == n)
    b.check_last_seen(conn, main["touch_due"]["started_at"], "every touch due")
    relatime.set_resolution(conn, None)
    period = max(10, math.ceil(1.5 * main["touch_due"]["wall_s"]) + 2)  # each sync done before the next starts
    main["settle_s"]["steady state"] = vacuum.settle()  # before the series, not between its syncs
    main["steady"] = relatime.steady_state(run, conn, period)
    b.check("steady state: every sync all unchanged",
            all(r["records"].get("unchanged") == n for r in main["steady"]["syncs"]))
    say(f"steady state: mean {main['steady']['mean_records_per_s']:,} records/s over "
        f"{main['steady']['records_per_s']}; rows touched per sync {main['steady']['touched']}")


def profiles(b: Bench, sim_info: dict[str, Any], worker: Any) -> dict[str, Any]:
    say("py-spy on the worker: a first sync (fresh tenant) and an unchanged re-sync")
    out: dict[str, Any] = {}
    conn = b.connector(sim_info, MAIN_VENDOR, page_size=b.opts.page_size)
    for label in ("first", "unchanged"):
        with Profile(worker.pid, b.logs / f"profile-{label}.txt") as prof:
            report = b.sync(conn)
        out[label] = {"records_per_s_under_profiler": report.get("records_per_second"), **prof.result()}
    return out


def fetch_only(b: Bench, conn: Any, worker: Any, sim: Any) -> dict[str, Any]:
    """The connector's pages one after another, nothing else: with the cyclic GC paused, as the fetch task
    runs them (pipeline.context.gc_paused)."""
    from nexus_sync.pipeline.context import gc_paused

    inst = conn.instance()
    pages, records = 0, 0
    with Meter(b.roots(worker, sim), rss_root=None) as meter, gc_paused():
        state = None
        while True:
            page = inst.fetch_page(state, None)
            pages, records = pages + 1, records + len(page.records)
            state = page.next
            if state is None:
                break
    rps = round(records / meter.wall)
    say(f"fetch only: {records:,} records in {meter.wall:.2f}s = {rps:,} records/s")
    return {"records": records, "pages": pages, "records_per_s": rps, "meter": meter.result()}


def copy_limit(tenant_id: uuid.UUID, reps: int) -> dict[str, Any]:
    """The write path's limit on this Postgres: COPY of the first sync's rows (already encoded) into a
    table shaped like raw_data (its indexes and unique constraint included)."""
    from nexus_sync import db

    cols = "id, tenant_id, source, type, source_id, hash, data, raw_data, ingested_at, last_seen"
    raw = db.get_engine().raw_connection()
    times: list[float] = []
    try:
        cur = raw.cursor()
        buf = io.BytesIO()
        cur.copy_expert(f"COPY (SELECT {cols} FROM raw_data WHERE tenant_id = '{tenant_id}') TO STDOUT", buf)
        rows = buf.getvalue().count(b"\n")
        for _ in range(reps):
            cur.execute("DROP TABLE IF EXISTS bench_copy_target")
            cur.execute("CREATE TABLE bench_copy_target (LIKE raw_data INCLUDING ALL)")
            raw.commit()
            buf.seek(0)
            t0 = time.perf_counter()
            cur.copy_expert(f"COPY bench_copy_target ({cols}) FROM STDIN", buf)
            raw.commit()
            times.append(time.perf_counter() - t0)
        cur.execute("DROP TABLE IF EXISTS bench_copy_target")
        raw.commit()
    finally:
        raw.close()
    med = statistics.median(times)
    rps = round(rows / med)
    say(f"COPY limit: {rows:,} rows ({mb(len(buf.getvalue()))} MB) in {med:.2f}s (median of "
        f"{', '.join(f'{t:.2f}' for t in times)}) = {rps:,} rows/s")
    return {"rows": rows, "bytes": len(buf.getvalue()), "seconds": [round(t, 3) for t in times],
            "median_s": round(med, 3), "records_per_s": rps}


def phase_full_cycle(b: Bench) -> None:
    """Every connector type × cycle_records, all enqueued at once: wall time to the last report."""
    import connectors

    types = sorted(connectors.registry())
    sim, info = b.simulator({t: b.opts.cycle_records for t in types if t in _sim_vendors()}, "cycle")
    worker, log = b.worker("cycle")
    configs = simulator_configs(info["url"])
    conns, skipped = [], {}
    for t in types:
        if t not in info["vendors"]:
            skipped[t] = "the simulator does not serve this vendor"
            continue
        try:
            # what the simulator says it needs (Greenbone: its GMP port and CA file) over the example's
            conns.append(b.connector(info, t, **{**configs.get(t, {}), **info["vendors"][t].get("config", {})}))
        except Exception as exc:  # recorded: the phase goes on and the check below fails
            skipped[t] = f"{type(exc).__name__}: {exc}"[:300]
    say(f"full cycle: {len(conns)} connector types × {b.opts.cycle_records} records")
    offset = log.stat().st_size
    with Meter(b.roots(worker, sim)) as meter:
        t0 = time.perf_counter()
        hids = [(c, b.trigger(c.name)) for c in conns]
        reports = {c.type: b.wait(h, 600) for c, h in hids}
        wall = time.perf_counter() - t0
    settle(log, offset)
    per_type = {t: {"status": r.get("status"), "records": r.get("records", {}).get("processed"),
                    "duration_ms": r.get("duration_ms"), "pages": r.get("pages"),
                    "error": str(((r.get("errors") or [{}])[0] or {}).get("error") or "")[:200] or None}
                for t, r in reports.items()}
    b.results["full_cycle"] = {"types": types, "ran": sorted(reports), "skipped": skipped,
                               "records_per_type": b.opts.cycle_records, "wall_s": round(wall, 2),
                               "per_type": per_type, "meter": meter.result(),
                               "worker_log": task_times(log, offset, {h for _, h in hids})}
    b.check("full cycle: every type ran and succeeded",
            not skipped and all(r["status"] == "SUCCESS" for r in per_type.values()))
    say(f"full cycle: {wall:.2f}s for {len(reports)} types " + ", ".join(
        f"{t}={r['status']}" for t, r in per_type.items()) + (f"; skipped {skipped}" if skipped else ""))
    b.stop(worker)
    b.stop(sim)


def simulator_configs(sim_url: str) -> dict[str, dict[str, Any]]:
    """Per type, the config that points it at the simulator (examples/connectors-all.yaml: some types
    need more than a base_url, e.g. a token URL or a region); types it lacks get base_url only."""
    from nexus_sync import catalog

    path = ROOT / "examples" / "connectors-all.yaml"
    if not path.exists():
        return {}
    previous = os.environ.get("NEXUS_SIM_URL")
    os.environ["NEXUS_SIM_URL"] = sim_url
    try:
        return {spec.type: spec.config for spec in catalog.load_file(path)}
    except Exception as exc:  # a broken example must not stop the benchmark: say so, go on
        say(f"could not use {path}: {exc}")
        return {}
    finally:
        if previous is None:
            os.environ.pop("NEXUS_SIM_URL", None)
        else:
            os.environ["NEXUS_SIM_URL"] = previous


def _sim_vendors() -> set[str]:
    from nexus_sync.simulator import vendor_names

    return set(vendor_names())
