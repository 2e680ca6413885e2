"""The benchmark's own stack and processes: setup and teardown, simulators, workers, connectors, one measured
sync, and the correctness checks every phase records."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nexus_sync import runs
from nexus_sync.dev.bench import vacuum
from nexus_sync.dev.bench.common import ROOT, say
from nexus_sync.dev.bench.meter import BrokerTap, Meter
from nexus_sync.dev.bench.worker_log import settle, task_times


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

    @property
    def secrets(self) -> Path:
        return self.state / "secrets.yaml"

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

    def stop(self, proc: Any) -> None:
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

    def trigger(self, name: str) -> str:
        return runs.trigger(name, "bench", app=self.celery)

    def wait(self, hid: str, timeout: float) -> dict[str, Any]:
        """The sync's report, with its id and when it started (for the last_seen check)."""
        report = runs.wait(hid, timeout, poll=0.1)
        return {**report, "_started_at": _started_at(hid), "_hid": hid}

    def sync(self, conn: Any, timeout: float | None = None) -> dict[str, Any]:
        t0 = time.perf_counter()
        report = self.wait(self.trigger(conn.name), timeout or self.opts.sync_timeout)
        report["_wall_s"] = round(time.perf_counter() - t0, 3)
        return report

    def measured_sync(self, label: str, conn: Any, worker: Any, log: Path, sim: Any,
                      tap: bool = False) -> dict[str, Any]:
        offset = log.stat().st_size
        broker = BrokerTap() if tap else None
        upkeep_before = vacuum.counts()
        with Meter(self.roots(worker, sim)) as meter:
            if broker is not None:
                with broker:
                    report = self.sync(conn)
            else:
                report = self.sync(conn)
            drained = self.outbox_drained()  # metered: the archive was a stage of the sync before the outbox
            upkeep = vacuum.activity(upkeep_before, vacuum.counts())
        settle(log, offset)
        rec = report.get("records", {})
        processed = rec.get("processed", 0)
        out = {"status": report.get("status"), "records": rec, "pages": report.get("pages"),
               "duration_ms": report.get("duration_ms"), "wall_s": report["_wall_s"],
               "records_per_s": round(processed / max(report.get("duration_ms", 0) / 1000, 1e-3)),
               "meter": meter.result(), "worker_log": task_times(log, offset, {report["_hid"]}),
               "started_at": report["_started_at"].isoformat(), "outbox_drain_s": drained,
               "autovacuum": upkeep}
        if broker is not None:
            out["broker"] = broker.result()
        t = out["worker_log"]["tasks"]
        say(f"{label}: {report.get('status')} {processed} records in {out['duration_ms'] / 1000:.2f}s "
            f"= {out['records_per_s']:,} records/s; worker RSS peak {out['meter'].get('rss_mb', {}).get('peak_any')}"
            f" MB; task seconds " + ", ".join(f"{k} {v['sum_s']:.1f}" for k, v in t.items())
            + (f"; autovacuum during it: {', '.join(upkeep)}" if upkeep else ""))
        return out

    def outbox_drained(self, timeout: float = 300.0) -> float:
        """Seconds until the outbox's archive relay (kicked by persist in the worker) has sent every batch's
        archive rows: the archive check holds, and the next phase starts on a quiet stack."""
        import sqlalchemy as sa

        from nexus_sync import db
        from nexus_sync.outbox.store import ARCHIVE

        t0, o = time.perf_counter(), db.outbox.c
        while time.perf_counter() - t0 < timeout:
            with db.get_engine().connect() as c:
                if not c.execute(sa.select(sa.func.count()).where(o.target == ARCHIVE, o.done_at.is_(None))).scalar_one():
                    break
            time.sleep(0.1)
        else:
            say(f"outbox not drained after {timeout:.0f}s")
        return round(time.perf_counter() - t0, 3)

    # ---- checks
    def check(self, name: str, ok: bool) -> None:
        self.results["checks"][name] = bool(ok)
        if not ok:
            say(f"CHECK FAILED: {name}")

    def check_last_seen(self, conn: Any, started_at: str, label: str) -> None:
        import sqlalchemy as sa

        from nexus_sync import db

        since = datetime.fromisoformat(started_at).replace(microsecond=0)
        rd = db.raw_data.c
        with db.get_engine().connect() as c:
            stale = c.execute(sa.select(sa.func.count()).select_from(db.raw_data).where(
                rd.tenant_id == conn.tenant_id, rd.last_seen < since)).scalar_one()
        self.check(f"{label}: no row's last_seen older than {since.isoformat()}", stale == 0)

    def check_archive(self, conn: Any, expected: int) -> None:
        from nexus_sync.archive import TABLE, get_archive

        n = int(get_archive().query(f"SELECT count() AS n FROM {TABLE} "
                                    f"WHERE tenant_id = toUUID('{conn.tenant_id}')")[0]["n"])
        self.check(f"archive holds new + updated ({expected})", n == expected)


def _started_at(sync_hid: str) -> datetime:
    import sqlalchemy as sa

    from nexus_sync import db

    sh = db.sync_history.c
    with db.get_engine().connect() as conn:
        started: datetime = conn.execute(sa.select(sh.started_at).where(sh.id == uuid.UUID(sync_hid))).scalar_one()
    return started
