"""`make bench` / `nexus-sync bench`: the real pipeline (simulator → Celery worker(s) → Redis, PostgreSQL,
ClickHouse engine, Kafka) on an embedded stack of its own, measured against the targets of issue 6.

Results: bench/results/<date>.json (and <date>-large.json for the 1M-record run) and bench/SUMMARY.md,
which is committed. The machine is shared and noisy, so speed is judged by ratios within one run (the
first sync against the same run's COPY limit on the same Postgres and rows), and every figure keeps
the evidence beside it: CPU seconds per process, stage times from the worker log, py-spy profiles.
"""
from __future__ import annotations

import io
import linecache
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import orjson

from nexus_sync import names

ROOT = Path(__file__).resolve().parents[2]
MAIN_VENDOR = "crowdstrike"  # the 100,000-record sync is CrowdStrike-shaped
STAGES = ("start", "fetch", "normalize", "dedup", "persist", "archive", "finish")

# the targets; `le` = at most, `ge` = at least
TARGETS: dict[str, tuple[str, float, str]] = {
    "first_sync_vs_copy": ("ge", 0.75, "first sync ≥ 75 % of the same-run COPY limit"),
    "unchanged_rps": ("ge", 40_000, "unchanged re-sync ≥ 40,000 records/s"),
    "changed_rps": ("ge", 25_000, "10 % changed ≥ 25,000 records/s"),
    "normalize_us": ("le", 20.0, "normalize ≤ 20 µs/record"),
    "dedup_us": ("le", 5.0, "dedup ≤ 5 µs/record"),
    "write_1000_ms": ("le", 70.0, "a 1,000-row write ≤ 70 ms"),
    "worker_rss_mb": ("le", 300.0, "worker RSS ≤ 300 MB"),
    "rss_flat_ratio": ("le", 1.25, "RSS flat from 10k to 1M (largest/smallest peak ≤ 1.25)"),
    "full_cycle_s": ("lt", 30.0, "full cycle of all connectors < 30 s"),
}


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def _mb(n: float) -> float:
    return round(n / 2**20, 1)


# ----------------------------------------------------------------------------- machine
def machine() -> dict[str, Any]:
    import psutil

    cpu = ""
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=5).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                    capture_output=True, text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", False
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "platform": platform.platform(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
            "git_commit": commit + ("-dirty" if dirty else "")}


# ------------------------------------------------------------------------------- meter
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

    def _sample(self) -> None:
        # listing the tree scans /proc: do it once a second, read the known processes' RSS in between
        root = self.roots[self.rss_root]
        tree, listed = [], 0.0
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

    def __enter__(self) -> "Meter":
        for name in self.roots:
            self._cpu0[name], self._reaped0[name] = self._cpu(name)
        self.t0 = time.perf_counter()
        if self.rss_root:
            self._thread = threading.Thread(target=self._sample, daemon=True, name="bench-meter")
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
            out["rss_mb"] = {"peak_any": _mb(max(rss for _, rss in self.peaks.values())),
                             "peak_pool_child": _mb(max(children)) if children else None,
                             "peak_main": _mb(max(main)) if main else None,
                             "processes": len(self.peaks)}
        return out


# ------------------------------------------------------------------------ broker tap
class BrokerTap:
    """Redis MONITOR during a sync: the size of every task message pushed onto a queue, by task."""

    TASK_RE = re.compile(r"tasks\.sync\.\w+")

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

    def __enter__(self) -> "BrokerTap":
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


# --------------------------------------------------------------------------- profiler
class Profile:
    """py-spy on a process tree (on-CPU samples only), attributed to pipeline stages."""

    def __init__(self, pid: int, out: Path, rate: int = 100):
        self.pid, self.out, self.rate = pid, out, rate
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("py-spy", path=str(Path(sys.executable).parent) + os.pathsep
                            + os.environ.get("PATH", "")) is not None

    def __enter__(self) -> "Profile":
        exe = shutil.which("py-spy", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
        self.proc = subprocess.Popen([exe, "record", "--pid", str(self.pid), "--subprocesses", "--nonblocking",
                                      "--rate", str(self.rate), "--format", "raw", "--output", str(self.out)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def result(self, top: int = 8) -> dict[str, Any]:
        return summarize_profile(self.out, top)


_FRAME_RE = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def summarize_profile(path: Path, top: int = 8) -> dict[str, Any]:
    """Collapsed stacks → per stage: share of samples, top self lines (with their source), top callees."""
    if not path.exists():
        return {"error": "py-spy wrote no profile"}
    per_stage: Counter[str] = Counter()
    self_lines: dict[str, Counter[tuple[str, str, int]]] = defaultdict(Counter)
    inclusive: dict[str, Counter[str]] = defaultdict(Counter)
    total = 0
    for raw_line in path.read_text(errors="replace").splitlines():
        stack, _, count = raw_line.rpartition(" ")
        if not count.isdigit() or not stack:
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        parsed = [m.groupdict() for m in (_FRAME_RE.match(f) for f in frames) if m]
        stage = "outside the stages (celery, kombu, idle loop)"
        for fr in parsed:
            if fr["file"].endswith("nexus_sync/pipeline.py") and fr["func"] in STAGES:
                stage = fr["func"]
                break
        total += n
        per_stage[stage] += n
        if parsed:
            leaf = parsed[-1]
            self_lines[stage][(leaf["func"], leaf["file"], int(leaf["line"] or 0))] += n
            for name in {f"{fr['func']} ({_short(fr['file'])})" for fr in parsed}:
                inclusive[stage][name] += n
    out: dict[str, Any] = {"samples": total, "stages": {}}
    for stage, n in per_stage.most_common():
        lines = []
        for (func, file, line), k in self_lines[stage].most_common(top):
            src = linecache.getline(file, line).strip() if line else ""
            lines.append({"share": round(k / n, 3), "where": f"{_short(file)}:{line} {func}", "code": src[:100]})
        hot = [{"share": round(k / n, 3), "function": name} for name, k in inclusive[stage].most_common(top + 12)
               if not any(s in name for s in ("_bootstrap", "celery/", "billiard/", "kombu/", "<module>",
                                               "tasks/base.py", "tasks/sync.py", "trace.py"))][:top]
        out["stages"][stage] = {"share": round(n / max(total, 1), 3), "self": lines, "inclusive": hot}
    return out


def _short(file: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


# ------------------------------------------------------------------------- worker log
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


# ------------------------------------------------------------------------------ the run
@dataclass
class Options:
    records: int = 100_000
    small: int = 10_000  # the small size of the RSS series
    large: int = 0  # > 0: only the large RSS run (make bench-large)
    page_size: int = 5000
    concurrency: int = 0  # 0 = two per core: workers wait on Postgres and the archive engine half the time
    cycle_records: int = 1000
    copy_reps: int = 3
    profile: bool = True
    out: Path = ROOT / "bench"
    keep: bool = False
    sync_timeout: float = 1800.0


@dataclass
class Bench:
    opts: Options
    state: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="nxb-", dir="/tmp")))
    started: list[Any] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)

    # ---- setup / teardown
    @property
    def logs(self) -> Path:
        return self.state / "logs"

    def env(self) -> dict[str, str]:
        return {"NEXUS_STATE_DIR": str(self.state), "NEXUS_CREDENTIALS_FILE": str(self.secrets),
                "NEXUS_LOG_LEVEL": "INFO"}

    def setup(self) -> None:
        from nexus_sync.config import get_settings
        from nexus_sync.dev import devstack
        from nexus_sync.migrations import upgrade

        # its own stack and nothing else: service URLs from the environment would point elsewhere
        for var in ("NEXUS_DATABASE_URL", "NEXUS_REDIS_URL", "NEXUS_KAFKA_BOOTSTRAP", "NEXUS_CLICKHOUSE_URL"):
            os.environ.pop(var, None)
        self.secrets = self.state / "secrets.yaml"
        self.secrets.write_text("{}\n")
        os.environ.update(self.env())
        get_settings.cache_clear()
        import nexus_sync.credentials as creds

        creds._store = None
        say(f"starting an embedded stack under {self.state}")
        self.info = devstack.up(self.state)
        upgrade(get_settings().db_url)
        from nexus_sync.celery_app import make_app

        self.celery = make_app()  # built now: its broker is this stack's Redis

    def teardown(self) -> None:
        from nexus_sync import events
        from nexus_sync.dev import devstack

        say("stopping what the benchmark started")
        for p in reversed(self.started):
            try:
                p.stop()
            except Exception as exc:  # keep stopping the rest
                print(f"   could not stop {p.name}: {exc}", file=sys.stderr)
        self.started.clear()
        for producer in list(events._producers.values()):
            producer.flush(5)
        events._producers.clear()
        devstack.down(self.state)
        if not self.opts.keep:
            shutil.rmtree(self.state, ignore_errors=True)
        else:
            say(f"kept {self.state}")

    def _stop(self, proc: Any) -> None:
        proc.stop()
        if proc in self.started:
            self.started.remove(proc)

    # ---- processes
    def simulator(self, sizes: dict[str, int], label: str) -> tuple[Any, dict[str, Any]]:
        import requests

        from nexus_sync.dev import procs

        port = procs.free_port()
        t0 = time.perf_counter()
        proc = procs.start_simulator(self.logs / f"sim-{label}.log", port, sizes, env=self.env())
        self.started.append(proc)
        info = requests.get(f"http://127.0.0.1:{port}/_sim", timeout=10).json()
        say(f"simulator {label}: {sizes} on port {port} (ready in {time.perf_counter() - t0:.1f}s)")
        return proc, info

    def worker(self, label: str) -> tuple[Any, Path]:
        from nexus_sync.dev import procs

        log = self.logs / f"worker-{label}.log"
        proc = procs.start_worker(log, env=self.env(), concurrency=self.concurrency, name=f"bench-{label}")
        self.started.append(proc)
        return proc, log

    @property
    def concurrency(self) -> int:
        return self.opts.concurrency or 2 * (os.cpu_count() or 1)

    def roots(self, worker: Any, sim: Any) -> dict[str, int]:
        from nexus_sync.dev import devstack

        pids = {s.name: s.pid for s in devstack.status(self.state) if s.pid}
        return {"worker": worker.pid, "simulator": sim.pid, **pids, "harness": os.getpid()}

    # ---- connectors and syncs
    def connector(self, sim_info: dict[str, Any], vendor: str, **config: Any) -> Any:
        import yaml

        from nexus_sync import catalog

        v = sim_info["vendors"][vendor]
        name = f"bench-{vendor}-{uuid.uuid4().hex[:8]}"
        doc = yaml.safe_load(self.secrets.read_text()) or {}
        doc[name] = v["credentials"]
        self.secrets.write_text(yaml.safe_dump(doc))
        catalog.apply([catalog.ConnectorSpec(name=name, type=vendor, tenant_id=uuid.uuid4(), interval="1h",
                                             config={"base_url": v["base_url"], **config})])
        return catalog.get(name)

    def enqueue(self, name: str) -> str:
        hid = str(uuid.uuid4())
        self.celery.send_task(names.START_SYNC, args=[name, hid, "bench"], task_id=hid)
        return hid

    def wait(self, hid: str, timeout: float) -> dict[str, Any]:
        import sqlalchemy as sa

        from nexus_sync import db

        sh = db.sync_history.c
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with db.get_engine().connect() as conn:
                row = conn.execute(sa.select(sh.status, sh.error_details, sh.started_at)
                                   .where(sh.id == uuid.UUID(hid))).first()
            if row is not None and row.status != "RUNNING":
                report = (row.error_details or {}).get("report") or {"status": row.status, **(row.error_details or {})}
                return {**report, "_started_at": row.started_at, "_hid": hid}
            time.sleep(0.1)
        raise RuntimeError(f"sync {hid} did not finish within {timeout:.0f}s")

    def sync(self, conn: Any, timeout: float | None = None) -> dict[str, Any]:
        t0 = time.perf_counter()
        report = self.wait(self.enqueue(conn.name), timeout or self.opts.sync_timeout)
        report["_wall_s"] = round(time.perf_counter() - t0, 3)
        return report

    def measured_sync(self, label: str, conn: Any, worker: Any, log: Path, sim: Any,
                      tap: bool = False) -> dict[str, Any]:
        offset = log.stat().st_size
        with Meter(self.roots(worker, sim)) as meter:
            if tap:
                with BrokerTap() as broker:
                    report = self.sync(conn)
            else:
                report = self.sync(conn)
        _settle(log, offset)
        rec = report.get("records", {})
        processed = rec.get("processed", 0)
        out = {"status": report.get("status"), "records": rec, "pages": report.get("pages"),
               "duration_ms": report.get("duration_ms"), "wall_s": report["_wall_s"],
               "records_per_s": round(processed / max(report.get("duration_ms", 0) / 1000, 1e-3)),
               "meter": meter.result(), "worker_log": task_times(log, offset, {report["_hid"]}),
               "started_at": report["_started_at"].isoformat()}
        if tap:
            out["broker"] = broker.result()
        t = out["worker_log"]["tasks"]
        say(f"{label}: {report.get('status')} {processed} records in {out['duration_ms'] / 1000:.2f}s "
            f"= {out['records_per_s']:,} records/s; worker RSS peak {out['meter'].get('rss_mb', {}).get('peak_any')}"
            f" MB; task seconds " + ", ".join(f"{k} {v['sum_s']:.1f}" for k, v in t.items()))
        return out

    # ---- phases
    def run(self) -> dict[str, Any]:
        o = self.opts
        self.results = {"kind": "large" if o.large else "main", "date": _today(), "machine": machine(),
                        "options": {"records": o.large or o.records, "small": o.small, "page_size": o.page_size,
                                    "worker_concurrency": self.concurrency, "cycle_records": o.cycle_records,
                                    "profile": o.profile and Profile.available()},
                        "state_dir": str(self.state), "checks": {}}
        t0 = time.perf_counter()
        self.setup()
        try:
            if o.large:
                self.phase_rss(o.large, "large")
            else:
                self.phase_rss(o.small, "small", tap=True)
                self.phase_main()
                self.phase_full_cycle()
        finally:
            self.teardown()
        self.results["total_s"] = round(time.perf_counter() - t0, 1)
        self.results["headline"] = headline(self.results)
        return self.results

    def phase_rss(self, n: int, label: str, tap: bool = False) -> None:
        """One first sync of n records on a fresh worker: peak RSS (and broker message sizes)."""
        sim, info = self.simulator({MAIN_VENDOR: n}, label)
        worker, log = self.worker(f"rss-{label}")
        conn = self.connector(info, MAIN_VENDOR, page_size=self.opts.page_size)
        res = self.measured_sync(f"{n:,}-record first sync (fresh worker)", conn, worker, log, sim, tap=tap)
        self.results.setdefault("rss", {})[str(n)] = {"size": n, **res}
        self._check(f"rss-{label} sync SUCCESS with {n} new", res["status"] == "SUCCESS" and res["records"].get("new") == n)
        if label == "large":  # the same data again: the unchanged path at scale
            res2 = self.measured_sync(f"{n:,}-record unchanged re-sync", conn, worker, log, sim)
            self.results["rss"][str(n)]["unchanged_resync"] = res2
        self._stop(worker)
        self._stop(sim)

    def phase_main(self) -> None:
        o, n = self.opts, self.opts.records
        sim, info = self.simulator({MAIN_VENDOR: n}, "main")
        worker, log = self.worker("main")
        conn = self.connector(info, MAIN_VENDOR, page_size=o.page_size)
        main: dict[str, Any] = {"records": n, "connector": conn.name}
        self.results["main"] = main

        say("fetch only: the simulator and the HTTP client, no pipeline (the simulator's limit)")
        main["fetch_only"] = self.fetch_only(conn, worker, sim)

        main["first"] = self.measured_sync("first sync", conn, worker, log, sim)
        self._check("first sync: all new", main["first"]["records"].get("new") == n)
        say(f"COPY limit: the same {n:,} rows into a table LIKE raw_data INCLUDING ALL, {o.copy_reps}×")
        main["copy_limit"] = self.copy_limit(conn.tenant_id)
        main["first"]["vs_copy"] = round(main["first"]["records_per_s"] / main["copy_limit"]["records_per_s"], 3)

        main["unchanged"] = self.measured_sync("unchanged re-sync", conn, worker, log, sim)
        self._check("unchanged re-sync: all unchanged", main["unchanged"]["records"].get("unchanged") == n)
        self._check_last_seen(conn, main["unchanged"]["started_at"], "unchanged")

        import requests

        changed = requests.post(f"{info['url']}/_sim/{MAIN_VENDOR}/mutate", json={"fraction": 0.1},
                                timeout=60).json()["changed"]
        main["changed"] = self.measured_sync(f"10 % changed re-sync ({changed:,} changed)", conn, worker, log, sim)
        rec = main["changed"]["records"]
        self._check("10 % changed: updated == changed", rec.get("updated") == changed
                    and rec.get("unchanged") == n - changed)
        self._check_last_seen(conn, main["changed"]["started_at"], "changed")
        self._check_archive(conn, n + changed)
        self.results.setdefault("rss", {})[str(n)] = {
            "size": n, "meter": {"rss_mb": {k: max(main[p]["meter"]["rss_mb"][k] or 0 for p in
                                                      ("first", "unchanged", "changed"))
                                               for k in ("peak_any", "peak_pool_child", "peak_main")}}}

        say("stage timings in this process on staged data (fresh tenant: new, unchanged, 10 % changed)")
        main["stages"] = self.stage_timings(info, sim)

        if o.profile and Profile.available():
            main["profiles"] = {}
            say("py-spy on the worker: a first sync (fresh tenant) and an unchanged re-sync")
            conn2 = self.connector(info, MAIN_VENDOR, page_size=o.page_size)
            for label in ("first", "unchanged"):
                with Profile(worker.pid, self.logs / f"profile-{label}.txt") as prof:
                    report = self.sync(conn2)
                main["profiles"][label] = {"records_per_s_under_profiler": report.get("records_per_second"),
                                           **prof.result()}
        self._stop(worker)
        self._stop(sim)

    def fetch_only(self, conn: Any, worker: Any, sim: Any) -> dict[str, Any]:
        inst = conn.instance()
        pages, records = 0, 0
        with Meter(self.roots(worker, sim), rss_root=None) as meter:
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

    def copy_limit(self, tenant_id: uuid.UUID) -> dict[str, Any]:
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
            for _ in range(self.opts.copy_reps):
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
        say(f"COPY limit: {rows:,} rows ({_mb(len(buf.getvalue()))} MB) in {med:.2f}s (median of "
            f"{', '.join(f'{t:.2f}' for t in times)}) = {rps:,} rows/s")
        return {"rows": rows, "bytes": len(buf.getvalue()), "seconds": [round(t, 3) for t in times],
                "median_s": round(med, 3), "records_per_s": rps}

    def stage_timings(self, sim_info: dict[str, Any], sim: Any) -> dict[str, Any]:
        """Each stage function in this process, three rounds on one fresh tenant; per record / per row."""
        import requests

        from nexus_sync import pipeline, staging

        n = min(self.opts.records, max(self.opts.small, self.opts.page_size))
        conn = self.connector(sim_info, MAIN_VENDOR, page_size=self.opts.page_size)
        out: dict[str, Any] = {}
        for round_name in ("new", "unchanged", "changed"):
            if round_name == "changed":
                requests.post(f"{sim_info['url']}/_sim/{MAIN_VENDOR}/mutate", json={"fraction": 0.1}, timeout=60)
            hid = str(uuid.uuid4())
            t: dict[str, float] = defaultdict(float)
            counts: Counter[str] = Counter()
            staged: Counter[str] = Counter()
            clock = time.perf_counter
            s = clock()
            started = pipeline.start(conn.name, hid, "bench")
            t["start"] += clock() - s
            batch, state = 0, None
            while counts["records"] < n:
                s = clock()
                nxt = pipeline.fetch(hid, batch, state, started.since)
                t["fetch"] += clock() - s
                for stage in ("normalize", "dedup"):
                    s = clock()
                    res = getattr(pipeline, stage)(hid, batch)
                    t[stage] += clock() - s
                    if stage == "normalize":
                        counts["records"] += res["records"]
                for st in staging.STAGES:
                    staged[st] += _strlen(staging.key(hid, batch, st))
                s = clock()
                res = pipeline.persist(hid, batch)
                t["persist"] += clock() - s
                counts["write_ms"] += res.get("write_ms", 0)
                for k in ("new", "updated", "unchanged"):
                    counts[k] += res.get(k, 0)
                counts["batches"] += 1
                s = clock()
                pipeline.archive(hid, batch)
                t["archive"] += clock() - s
                if nxt is None:
                    break
                batch, state = batch + 1, nxt
            finished = nxt is None
            if finished:
                s = clock()
                pipeline.finish(hid)
                t["finish"] += clock() - s
            else:  # a partial sync (the page limit above): free the lock for the next round
                pipeline._release(conn.id, hid)
            if round_name == "new":
                out["normalize_breakdown"] = normalize_breakdown(conn, hid)
            r = counts["records"]
            written = counts["new"] + counts["updated"]
            out[round_name] = {
                "records": r, "batches": counts["batches"], "new": counts["new"], "updated": counts["updated"],
                "unchanged": counts["unchanged"],
                "seconds": {k: round(v, 4) for k, v in t.items()},
                "us_per_record": {k: round(v / r * 1e6, 1) for k, v in t.items() if k not in ("start", "finish")},
                "persist_write_ms": counts["write_ms"],
                "write_ms_per_1000_rows": round(counts["write_ms"] / max(r, 1) * 1000, 1),
                "write_ms_per_1000_written": round(counts["write_ms"] / written * 1000, 1) if written else None,
                "archive_ms_per_batch": round(t["archive"] / counts["batches"] * 1000, 1),
                "notify_ms": round(t["finish"] * 1000, 1) if finished else None,
                "staged_bytes_per_record": {k: round(v / max(r, 1)) for k, v in staged.items()},
            }
            u = out[round_name]["us_per_record"]
            say(f"stages, {round_name}: " + ", ".join(f"{k} {v} µs" for k, v in u.items())
                + f"; write {out[round_name]['write_ms_per_1000_rows']} ms/1000 rows")
        return out

    def phase_full_cycle(self) -> None:
        """Every connector type × cycle_records, all enqueued at once: wall time to the last report."""
        import connectors

        types = sorted(connectors.registry())
        sim, info = self.simulator({t: self.opts.cycle_records for t in types if t in _sim_vendors()}, "cycle")
        worker, log = self.worker("cycle")
        configs = self._simulator_configs(info["url"])
        conns, skipped = [], {}
        for t in types:
            if t not in info["vendors"]:
                skipped[t] = "the simulator does not serve this vendor"
                continue
            try:
                conns.append(self.connector(info, t, **configs.get(t, {})))
            except Exception as exc:
                skipped[t] = f"{type(exc).__name__}: {exc}"[:300]
        say(f"full cycle: {len(conns)} connector types × {self.opts.cycle_records} records")
        offset = log.stat().st_size
        with Meter(self.roots(worker, sim)) as meter:
            t0 = time.perf_counter()
            hids = [(c, self.enqueue(c.name)) for c in conns]
            reports = {c.type: self.wait(h, 600) for c, h in hids}
            wall = time.perf_counter() - t0
        _settle(log, offset)
        per_type = {t: {"status": r.get("status"), "records": r.get("records", {}).get("processed"),
                        "duration_ms": r.get("duration_ms"), "pages": r.get("pages"),
                        "error": str(((r.get("errors") or [{}])[0] or {}).get("error") or "")[:200] or None}
                    for t, r in reports.items()}
        self.results["full_cycle"] = {"types": types, "ran": sorted(reports), "skipped": skipped,
                                      "records_per_type": self.opts.cycle_records, "wall_s": round(wall, 2),
                                      "per_type": per_type, "meter": meter.result(),
                                      "worker_log": task_times(log, offset, {h for _, h in hids})}
        self._check("full cycle: every type ran and succeeded",
                    not skipped and all(r["status"] == "SUCCESS" for r in per_type.values()))
        say(f"full cycle: {wall:.2f}s for {len(reports)} types " + ", ".join(
            f"{t}={r['status']}" for t, r in per_type.items()) + (f"; skipped {skipped}" if skipped else ""))
        self._stop(worker)
        self._stop(sim)

    @staticmethod
    def _simulator_configs(sim_url: str) -> dict[str, dict[str, Any]]:
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

    # ---- checks
    def _check(self, name: str, ok: bool) -> None:
        self.results["checks"][name] = bool(ok)
        if not ok:
            say(f"CHECK FAILED: {name}")

    def _check_last_seen(self, conn: Any, started_at: str, label: str) -> None:
        import sqlalchemy as sa

        from nexus_sync import db

        since = datetime.fromisoformat(started_at).replace(microsecond=0)
        rd = db.raw_data.c
        with db.get_engine().connect() as c:
            stale = c.execute(sa.select(sa.func.count()).select_from(db.raw_data).where(
                rd.tenant_id == conn.tenant_id, rd.last_seen < since)).scalar_one()
        self._check(f"{label}: every row's last_seen is this sync's", stale == 0)

    def _check_archive(self, conn: Any, expected: int) -> None:
        from nexus_sync.archive import TABLE, get_archive

        n = int(get_archive().query(f"SELECT count() AS n FROM {TABLE} "
                                    f"WHERE tenant_id = toUUID('{conn.tenant_id}')")[0]["n"])
        self._check(f"archive holds new + updated ({expected})", n == expected)


def normalize_breakdown(conn: Any, sync_hid: str) -> dict[str, float]:
    """µs per record of each step of normalize, on one staged page (batch 0): which part is whose code."""
    from nexus_sync import staging
    from nexus_sync.models import DATA_MODELS, content_hash, fast_validator, identity_key
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


def _sim_vendors() -> set[str]:
    from nexus_sync.simulator.server import vendor_names

    return set(vendor_names())


def _settle(log: Path, offset: int, quiet: float = 0.3, timeout: float = 5.0) -> None:
    """The last task lines reach the worker log just after the report is written: wait until it is quiet."""
    deadline = time.monotonic() + timeout
    size = log.stat().st_size
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = log.stat().st_size
        if now == size and b'"stage":"notify"' in log.read_bytes()[offset:].replace(b" ", b""):
            return
        size = now


def _today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


# ------------------------------------------------------------------------ headline/targets
def headline(r: dict[str, Any]) -> dict[str, Any]:
    """The figures the targets speak of, flat: name → value."""
    h: dict[str, Any] = {}
    m = r.get("main")
    if m:
        h["first_rps"] = m["first"]["records_per_s"]
        h["copy_rps"] = m["copy_limit"]["records_per_s"]
        h["first_sync_vs_copy"] = m["first"]["vs_copy"]
        h["fetch_only_rps"] = m["fetch_only"]["records_per_s"]
        h["unchanged_rps"] = m["unchanged"]["records_per_s"]
        h["changed_rps"] = m["changed"]["records_per_s"]
        st = m["stages"]
        h["normalize_us"] = st["new"]["us_per_record"]["normalize"]
        # the dedup lookup proper: cache-hit rounds (a first sync's cold cache asks Postgres: shown beside)
        h["dedup_us"] = max(st[k]["us_per_record"]["dedup"] for k in ("unchanged", "changed"))
        h["dedup_cold_us"] = st["new"]["us_per_record"]["dedup"]
        h["write_1000_ms"] = st["new"]["write_ms_per_1000_written"]
    rss = r.get("rss", {})
    peaks = {int(k): v["meter"]["rss_mb"]["peak_any"] for k, v in rss.items() if v.get("meter", {}).get("rss_mb")}
    if peaks:
        h["worker_rss_mb"] = max(peaks.values())
        h["rss_by_records"] = dict(sorted(peaks.items()))
    if r.get("full_cycle"):
        h["full_cycle_s"] = r["full_cycle"]["wall_s"]
    return h


def verdict(name: str, value: float | None) -> tuple[bool | None, str]:
    if value is None:
        return None, "not measured"
    op, target, _ = TARGETS[name]
    ok = value >= target if op == "ge" else value <= target if op == "le" else value < target
    if ok:
        return True, "met"
    if op == "ge":
        return False, f"missed: {value / target:.0%} of target (needs {target / value:.2f}×)"
    return False, f"missed: {value / target:.2f}× the target ({(value - target) / target:+.0%})"


# -------------------------------------------------------------------------------- output
def save(results: dict[str, Any], out: Path) -> tuple[Path, Path]:
    rdir = out / "results"
    rdir.mkdir(parents=True, exist_ok=True)
    stem = results["date"] + ("-large" if results["kind"] == "large" else "")
    path = rdir / f"{stem}.json"
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
                                  | orjson.OPT_NON_STR_KEYS) + b"\n")
    main = _latest(rdir, "main")
    large = _latest(rdir, "large")
    summary = out / "SUMMARY.md"
    summary.write_text(render_summary(main, large))
    return path, summary


def _latest(rdir: Path, kind: str) -> dict[str, Any] | None:
    """The newest YYYY-MM-DD.json (main) or YYYY-MM-DD-large.json; other names are kept for reference."""
    pattern = r"\d{4}-\d{2}-\d{2}" + ("-large" if kind == "large" else "")
    files = sorted(p for p in rdir.glob("*.json") if re.fullmatch(pattern, p.stem))
    return orjson.loads(files[-1].read_bytes()) if files else None


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and v < 10:
        return f"{v:.2f}{unit}"
    if isinstance(v, (int, float)):
        return f"{v:,.0f}{unit}"
    return f"{v}{unit}"


def render_summary(main: dict[str, Any] | None, large: dict[str, Any] | None) -> str:
    """bench/SUMMARY.md: the latest main run (and the latest large run) beside the targets."""
    L: list[str] = ["# nexus-sync benchmark", "",
                    "Generated by `make bench` (and `make bench-large` for the 1M-record row) — "
                    "`nexus_sync/bench.py`. Raw results: `bench/results/<date>.json`. "
                    "Speed is judged by ratios within one run; the machine is shared and noisy.", ""]
    if main is None:
        return "\n".join(L + ["No main run yet: `make bench`.", ""])
    h, mc = main["headline"], main["machine"]
    o = main["options"]
    L += [f"Run {main['date']} at {mc['git_commit']}: {mc['nproc']} cores ({mc['cpu']}), Python {mc['python']}, "
          f"load average at start {mc['load_avg_at_start']}; {o['records']:,} CrowdStrike-shaped records, "
          f"page size {o['page_size']}, worker concurrency {o['worker_concurrency']}; whole run "
          f"{main['total_s']:.0f}s.", ""]
    failed = [k for k, ok in main["checks"].items() if not ok]
    L += ["Correctness checks: " + ("all passed" if not failed else "FAILED: " + "; ".join(failed))
          + f" ({len(main['checks'])} checks: counts, last_seen, archive rows).", ""]
    L += ["## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
    m = main.get("main", {})
    rows = [
        ("first_sync_vs_copy", f"{_fmt(h.get('first_rps'))} rec/s = {h.get('first_sync_vs_copy', 0):.0%} of COPY "
                               f"({_fmt(h.get('copy_rps'))} rows/s)", None),
        ("unchanged_rps", f"{_fmt(h.get('unchanged_rps'))} rec/s", None),
        ("changed_rps", f"{_fmt(h.get('changed_rps'))} rec/s", None),
        ("normalize_us", f"{_fmt(h.get('normalize_us'))} µs/record", None),
        ("dedup_us", f"{_fmt(h.get('dedup_us'))} µs/record (cache hits; cold cache via Postgres "
                     f"{_fmt(h.get('dedup_cold_us'))})", None),
        ("write_1000_ms", f"{_fmt(h.get('write_1000_ms'))} ms per 1,000 new rows", None),
    ]
    rss = dict(h.get("rss_by_records", {}))
    if large:
        rss.update({int(k): v for k, v in large["headline"].get("rss_by_records", {}).items()})
    rss = dict(sorted((int(k), v) for k, v in rss.items()))
    rss_max = max(rss.values()) if rss else None
    flat = round(max(rss.values()) / min(rss.values()), 2) if len(rss) > 1 else None
    rows += [("worker_rss_mb", f"{_fmt(rss_max)} MB (peak of any worker process)", rss_max),
             ("rss_flat_ratio", " / ".join(f"{k:,}: {v:.0f} MB" for k, v in rss.items()) + f" → {flat}×", flat),
             ("full_cycle_s", f"{_fmt(h.get('full_cycle_s'))} s ({len(main.get('full_cycle', {}).get('ran', []))} "
                              f"types × {o['cycle_records']:,})", None)]
    misses = []
    for name, text, value in rows:
        value = h.get(name) if value is None else value
        ok, how = verdict(name, value)
        mark = "✅" if ok else ("❌" if ok is False else "…")
        L.append(f"| {TARGETS[name][2]} | {text} | {mark} {how} |")
        if ok is False:
            misses.append((name, how))
    if not large:
        L += ["", "The 1M-record RSS row comes from `make bench-large`, not run yet."]
    if m:
        L += _section_throughput(m)
        L += _section_stages(m)
        L += _section_cpu(m)
        L += _section_broker(main)
        L += _section_rss(main, large)
        L += _section_cycle(main)
        L += _section_profiles(m)
    L += ["", "## Where targets are missed", ""]
    if not misses:
        L.append("Every target is met in this run.")
    for name, how in misses:
        L.append(f"- **{TARGETS[name][2]}** — {how}.")
    L += ["", "The analysis of the misses (what the profiles show is in the way) is in `bench/README.md`.", ""]
    return "\n".join(L)


def _section_throughput(m: dict[str, Any]) -> list[str]:
    L = ["", "## End to end (100,000-record class sync, simulator → worker → stores)", "",
         "| run | records/s | duration | new / updated / unchanged | CPU s (worker / simulator / postgres / redis / "
         "clickhouse) | worker RSS peak |", "|---|---|---|---|---|---|"]
    for key, label in (("first", "first sync"), ("unchanged", "same data again"), ("changed", "10 % changed")):
        r = m[key]
        rec, cpu = r["records"], r["meter"]["cpu_s"]
        L.append(f"| {label} | {r['records_per_s']:,} | {r['duration_ms'] / 1000:.2f} s | {rec.get('new')} / "
                 f"{rec.get('updated')} / {rec.get('unchanged')} | {cpu.get('worker')} / {cpu.get('simulator')} / "
                 f"{cpu.get('postgres')} / {cpu.get('redis')} / {cpu.get('clickhouse')} | "
                 f"{r['meter']['rss_mb']['peak_any']} MB |")
    f, c = m["fetch_only"], m["copy_limit"]
    L += ["", f"- Fetch only (simulator + HTTP client + JSON, nothing else): **{f['records_per_s']:,} records/s** "
              f"({f['pages']} pages) — the ceiling the simulator puts on any sync here.",
          f"- COPY limit: {c['rows']:,} rows ({_mb(c['bytes'])} MB as COPY text) into `LIKE raw_data INCLUDING ALL`"
          f" in {c['median_s']} s (median of {c['seconds']}) = **{c['records_per_s']:,} rows/s**; the first sync "
          f"ran at **{m['first']['vs_copy']:.0%}** of it."]
    return L


def _section_stages(m: dict[str, Any]) -> list[str]:
    st = m["stages"]
    L = ["", "## Per stage (stage functions in-process on staged data; one fresh tenant, "
             f"{st['new']['records']:,} records in {st['new']['batches']} batches)", "",
         "| round | fetch µs/rec | normalize µs/rec | dedup µs/rec | persist µs/rec | archive µs/rec | "
         "write ms / 1,000 rows written | archive ms/batch | notify ms |", "|---|---|---|---|---|---|---|---|---|"]
    e2e_notified = False
    for k, run in (("new", "first"), ("unchanged", "unchanged"), ("changed", "changed")):
        r, u = st[k], st[k]["us_per_record"]
        notify = _fmt(r["notify_ms"])
        if r["notify_ms"] is None and run in m:  # the in-process rounds stop short of the last page: no notify
            sum_s = m[run]["worker_log"]["tasks"].get("notify", {}).get("sum_s")
            if sum_s is not None:
                notify, e2e_notified = f"{sum_s * 1000:.0f} †", True
        L.append(f"| {k} | {u.get('fetch')} | {u.get('normalize')} | {u.get('dedup')} | {u.get('persist')} | "
                 f"{u.get('archive')} | {_fmt(r['write_ms_per_1000_written'])} | {r['archive_ms_per_batch']} | "
                 f"{notify} |")
    if e2e_notified:
        L += ["", "† the notify task of the matching end-to-end sync (worker log): close the run, the Kafka event, "
                  "webhooks and alert rules; the first one in a worker process includes connecting the Kafka producer."]
    nb = st.get("normalize_breakdown")
    if nb:
        L += ["", "Normalize, step by step (µs/record, best of 3 on one page, in this process):", "",
              "| step | µs/record |", "|---|---|"] + [f"| {k} | {v} |" for k, v in nb.items()]
    sb = st["new"]["staged_bytes_per_record"]
    L += ["", "Staged bytes per record in Redis (claim-check payloads): "
          + ", ".join(f"{k} {v:,}" for k, v in sb.items()) + "."]
    L += ["", "Worker-log task seconds (sum over tasks; with concurrency > 1 they overlap):", "",
          "| run | " + " | ".join(STAGES[:-1] + ("notify",)) + " | persist write ms per 1,000 rows |",
          "|---|" + "---|" * (len(STAGES) + 1)]
    for key in ("first", "unchanged", "changed"):
        wl = m[key]["worker_log"]
        t = wl["tasks"]
        names = ("start_sync", "fetch", "normalize", "dedup", "persist", "archive", "notify")
        per_k = round(wl["persist_write_ms"] / max(wl["persist_rows"], 1) * 1000, 1)
        L.append(f"| {key} | " + " | ".join(f"{t.get(n, {}).get('sum_s', 0):.2f}" for n in names)
                 + f" | {per_k} (all classes) |")
    return L


def _section_cpu(m: dict[str, Any]) -> list[str]:
    L = ["", "## Where the CPU goes (CPU seconds per process tree during each run)", "",
         "| run | wall s | " + " | ".join(("worker", "simulator", "postgres", "redis", "clickhouse", "kafka",
                                           "harness")) + " | total (of " + str(os.cpu_count()) + "×wall) |",
         "|---|---|" + "---|" * 8]
    for key in ("fetch_only", "first", "unchanged", "changed"):
        mt = m[key]["meter"]
        c = mt["cpu_s"]
        L.append(f"| {key} | {mt['wall_s']} | " + " | ".join(str(c.get(k, "–")) for k in (
            "worker", "simulator", "postgres", "redis", "clickhouse", "kafka", "harness"))
                 + f" | {mt['cpu_s_total']} of {round((os.cpu_count() or 1) * mt['wall_s'], 1)} |")
    return L


def _section_broker(r: dict[str, Any]) -> list[str]:
    small = next((v for v in r.get("rss", {}).values() if "broker" in v), None)
    if not small:
        return []
    b = small["broker"]
    L = ["", f"## Broker messages (Redis MONITOR during the {small['size']:,}-record sync)", "",
         "| task | messages | median bytes | max bytes |", "|---|---|---|---|"]
    for t, v in b["by_task"].items():
        L.append(f"| {t} | {v['messages']} | {v['bytes_median']:,} | {v['bytes_max']:,} |")
    L += ["", f"Largest task message {b['bytes_max']:,} bytes; {b['task_messages']} task messages, "
              f"{b['bytes_total']:,} bytes in all; plus {b['task_event_messages']} Celery task-event messages "
              f"({b['task_event_bytes_total']:,} bytes)."]
    return L


def _section_rss(main: dict[str, Any], large: dict[str, Any] | None) -> list[str]:
    L = ["", "## Worker RSS by sync size (fresh worker per size; sampled every 100 ms)", "",
         "| records | peak of any worker process | pool child | main process | run |", "|---|---|---|---|---|"]
    rows = [(int(k), v, main["date"]) for k, v in main.get("rss", {}).items()]
    if large:
        rows += [(int(k), v, large["date"] + " (bench-large)") for k, v in large.get("rss", {}).items()]
    for n, v, when in sorted(rows, key=lambda x: x[0]):
        r = v["meter"]["rss_mb"]
        L.append(f"| {n:,} | {r['peak_any']} MB | {r.get('peak_pool_child')} MB | {r.get('peak_main')} MB | {when} |")
    if large:
        for k, v in large.get("rss", {}).items():
            L.append("")
            L.append(f"bench-large: {int(k):,}-record first sync {v['records_per_s']:,} records/s "
                     f"({v['duration_ms'] / 1000:.0f} s)" + (
                         f"; unchanged re-sync {v['unchanged_resync']['records_per_s']:,} records/s"
                         if "unchanged_resync" in v else "") + ".")
    return L


def _section_cycle(r: dict[str, Any]) -> list[str]:
    fc = r.get("full_cycle")
    if not fc:
        return []
    L = ["", f"## Full cycle: every connector type × {fc['records_per_type']:,} records, enqueued together", "",
         f"Wall time **{fc['wall_s']} s** for {len(fc['ran'])} types (`connectors.registry()`: "
         f"{', '.join(fc['types'])}).", "", "| type | status | records | duration | pages | first error |",
         "|---|---|---|---|---|---|"]
    for t, v in fc["per_type"].items():
        err = (v.get("error") or "").replace("|", "/")
        L.append(f"| {t} | {v['status']} | {v['records']} | {_fmt((v['duration_ms'] or 0) / 1000)} s | {v['pages']} "
                 f"| {err} |")
    for t, why in fc["skipped"].items():
        L.append(f"| {t} | not run | – | – | – | {why} |")
    return L


def _section_profiles(m: dict[str, Any]) -> list[str]:
    profs = m.get("profiles")
    if not profs:
        return []
    L = ["", "## Profiles (py-spy, on-CPU samples of the worker processes)", ""]
    for label, p in profs.items():
        if "stages" not in p:
            L.append(f"- {label}: {p.get('error')}")
            continue
        L += [f"### {label} sync ({p['samples']:,} samples; {p.get('records_per_s_under_profiler')} records/s "
              "under the profiler)", ""]
        for stage, s in p["stages"].items():
            if s["share"] < 0.03:
                continue
            L.append(f"- **{stage}** {s['share']:.0%} of samples. Hottest lines: " + "; ".join(
                f"{x['share']:.0%} `{x['where']}`" + (f" (`{x['code']}`)" if x['code'] else "")
                for x in s["self"][:5]))
        L.append("")
    return L


def print_summary(results: dict[str, Any]) -> None:
    h = results["headline"]
    say("result")
    for name, (_, _, text) in TARGETS.items():
        value = h.get(name)
        if name == "rss_flat_ratio":
            rss = h.get("rss_by_records") or {}
            value = round(max(rss.values()) / min(rss.values()), 2) if len(rss) > 1 else None
        ok, how = verdict(name, value)
        print(f"  {'✅' if ok else '❌' if ok is False else '…'} {text:<58} measured {_fmt(value)}  ({how})")
    failed = [k for k, ok in results["checks"].items() if not ok]
    print("  checks: " + ("all passed" if not failed else "FAILED: " + "; ".join(failed)))


def main(opts: Options) -> int:
    bench = Bench(opts)
    results = bench.run()
    path, summary = save(results, opts.out)
    print_summary(results)
    say(f"saved {path} and {summary}")
    return 0 if all(results["checks"].values()) else 1
