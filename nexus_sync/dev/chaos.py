"""`make chaos`: many connectors syncing against a faulty simulator while workers are SIGKILLed and
Redis and PostgreSQL restart, and ClickHouse, the Kafka broker and a webhook subscriber are down for a stretch
(chaos_outages); then the database is compared with the simulator's ground truth, and what reached ClickHouse,
Kafka and the subscriber with what the syncs owed them."""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests

from nexus_sync import names, runs
from nexus_sync.dev import chaos_outages as outage

ROOT = Path(__file__).resolve().parents[2]
CURSOR_SQL = {"crowdstrike": "raw_data->>'modified_timestamp'", "okta": "raw_data->>'lastUpdated'"}


@dataclass
class ChaosOptions:
    instances: int = 3  # per vendor (crowdstrike, okta), plus one connector on a broken endpoint
    crowdstrike: int = 3000
    okta: int = 1500
    rate_limit_rate: float = 0.20
    error_5xx_rate: float = 0.05
    timeout_rate: float = 0.02
    slow_ms: int = 20
    timeout: float = 600.0
    outage_seconds: float = 40.0  # Kafka down this long from before the first sync; ClickHouse, the webhook ~same
    keep: bool = False
    out: Path | None = None
    say: Callable[[str], None] = print
    events: list[str] = field(default_factory=list)


def _env(state: Path) -> dict[str, str]:
    return {
        "NEXUS_STATE_DIR": str(state), "NEXUS_CREDENTIALS_FILE": str(state / "secrets.json"),
        "NEXUS_BROKER_VISIBILITY_TIMEOUT": "8", "NEXUS_BROKER_RESTORE_INTERVAL": "1",
        "NEXUS_HTTP_TIMEOUT": "2", "NEXUS_TASK_MAX_RETRIES": "6", "NEXUS_RETRY_BACKOFF_MAX": "4",
    }


def run(opts: ChaosOptions) -> int:
    state = Path(tempfile.mkdtemp(prefix="nxc-", dir="/tmp"))
    env = _env(state)
    os.environ.update(env)
    from nexus_sync.config import get_settings

    get_settings.cache_clear()
    from nexus_sync.dev import devstack, procs
    from nexus_sync.migrations import upgrade

    started: list[procs.Proc] = []
    workers: list[procs.Proc] = []
    secrets: dict[str, dict[str, str]] = {}
    sub = outage.configure(state, env, secrets)
    outages = outage.Outages()
    try:
        opts.say(f"chaos state dir {state}")
        devstack.up(state)
        upgrade(get_settings().db_url)
        port_a, port_b = procs.free_port(), procs.free_port()
        sim_a = procs.start_simulator(state / "logs" / "sim-faulty.log", port_a,
                                      {"crowdstrike": opts.crowdstrike, "okta": opts.okta}, seed=5, env=env)
        sim_b = procs.start_simulator(state / "logs" / "sim-broken.log", port_b, {"crowdstrike": 200}, seed=6,
                                      env=env)
        started += [sim_a, sim_b]
        url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
        for vendor in ("crowdstrike", "okta"):
            requests.post(f"{url_a}/_sim/{vendor}/faults", timeout=10, json={
                "rate_limit_rate": opts.rate_limit_rate, "error_5xx_rate": opts.error_5xx_rate,
                "timeout_rate": opts.timeout_rate, "timeout_seconds": 3, "retry_after_seconds": 1,
                "slow_ms": opts.slow_ms}).raise_for_status()
        requests.post(f"{url_b}/_sim/crowdstrike/faults", timeout=10,
                      json={"broken_paths": ["/devices/entities/devices/v2"]}).raise_for_status()
        conns = _connectors(opts, state, url_a, url_b, secrets)
        for i in range(2):
            workers.append(procs.start_worker(state / "logs" / f"worker{i}.log", env=env, concurrency=2,
                                              name=f"chaos{i}"))
        log = _logger(opts)
        outage.stop_kafka(state, outages, log)
        hids = _trigger(conns)
        opts.say(f"{len(hids)} syncs started; chaos begins")
        chaos = threading.Thread(target=_chaos, args=(opts, state, env, workers), daemon=True)
        stretches = threading.Thread(target=outage.run_stretches, args=(state, outages, opts.outage_seconds, sub,
                                                                        log), daemon=True)
        chaos.start()
        stretches.start()
        requests_sent = _wait(hids, opts.timeout, outages)
        chaos.join(120)
        outage.drain(outages, opts.timeout)
        report = _report(conns, hids, {"faulty": url_a, "broken": url_b}, opts)
        once = outage.exactly_once(hids, sub, conns, outages)
        report["outbox"] = {**vars(outages), "exactly_once": once}
        report["ok"] = report["ok"] and once["ok"] and outages.drained_seconds is not None
        report["resume_requests_sent"] = requests_sent
        report["resumed_stalled"] = _resumed(state / "logs")
        _print(report, opts.say)
        if opts.out:
            opts.out.mkdir(parents=True, exist_ok=True)
            path = opts.out / f"chaos-{time.strftime('%Y-%m-%d-%H%M%S')}.json"
            path.write_text(json.dumps(report, indent=2, default=str))
            opts.say(f"saved {path}")
        return 0 if report["ok"] else 1
    finally:
        sub.stop()
        for p in workers + started:
            p.stop()
        from nexus_sync import events

        events._producers.clear()
        devstack.down(state)
        if not opts.keep:
            shutil.rmtree(state, ignore_errors=True)


def _connectors(opts: ChaosOptions, state: Path, url_a: str, url_b: str, secrets: dict[str, dict[str, str]]
                ) -> list[dict[str, Any]]:
    from nexus_sync import catalog
    from nexus_sync.simulator import discover

    conns: list[dict[str, Any]] = []
    for vendor in ("crowdstrike", "okta"):
        for i in range(opts.instances):
            conns.append({"name": f"{vendor}-chaos-{i}", "type": vendor, "url": url_a, "broken": False,
                          "page_size": 200 if vendor == "crowdstrike" else 100})
    conns.append({"name": "crowdstrike-broken", "type": "crowdstrike", "url": url_b, "broken": True,
                  "page_size": 100})
    specs = []
    for c in conns:
        secrets[c["name"]] = dict(discover()[c["type"]].default_credentials)  # what the simulator accepts
        c["tenant_id"] = uuid.uuid4()
        specs.append(catalog.ConnectorSpec(name=c["name"], type=c["type"], tenant_id=c["tenant_id"],
                                           config={"base_url": f"{c['url']}/{c['type']}",
                                                   "page_size": c["page_size"]}))
    (state / "secrets.json").write_text(json.dumps(secrets))
    catalog.apply(specs)
    for c in conns:
        c["id"] = catalog.get(c["name"]).id
    return conns


def _trigger(conns: list[dict[str, Any]]) -> dict[str, str]:
    return {c["name"]: runs.trigger(c["name"], "chaos") for c in conns}


def _logger(opts: ChaosOptions) -> Callable[[str], None]:
    def log(event: str) -> None:
        opts.events.append(f"{time.strftime('%H:%M:%S')} {event}")
        opts.say(f"  chaos: {event}")

    return log


def _chaos(opts: ChaosOptions, state: Path, env: dict[str, str], workers: list[Any]) -> None:
    from nexus_sync.dev import devstack, procs

    log = _logger(opts)

    def kill_and_restart(i: int) -> None:
        workers[i].kill()
        workers[i].popen.wait(10)
        log(f"SIGKILL worker {i} (pid {workers[i].pid})")
        time.sleep(1)
        workers[i] = procs.start_worker(state / "logs" / f"worker{i}.log", env=env, concurrency=2,
                                        name=f"chaos{i}")
        log(f"worker {i} restarted (pid {workers[i].pid})")

    time.sleep(3)
    kill_and_restart(0)
    time.sleep(2)
    devstack.restart_service(state, "redis")
    log("redis restarted")
    time.sleep(2)
    kill_and_restart(1)
    time.sleep(2)
    devstack.restart_service(state, "postgres")
    log("postgres restarted")


STALL_SECONDS = 20  # the chaos run's stand-in for beat's resume_stalled (NEXUS_SYNC_STALL_SECONDS, 900 s)
RESUME_EVERY = 5.0  # how often the run asks for it (beat: once a minute); each request expires before the next


def _wait(hids: dict[str, str], timeout: float, outages: outage.Outages) -> int:
    """Until every sync has ended; meanwhile do what beat does in production: have a worker resume stalled
    syncs (a Redis restart can lose a message a worker was popping) and run the outbox relays (noting what is
    owed). Returns how many resume requests were sent."""
    import kombu.exceptions
    import redis
    import sqlalchemy as sa

    from nexus_sync.celery_app import app

    sent, asked, relayed = 0, 0.0, 0.0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if all(runs.status(hid)[0] not in (None, "RUNNING") for hid in hids.values()):
                return sent
            if time.monotonic() - relayed >= outage.RELAY_EVERY:
                outages.sample()
                outage.ask_relays(app)
                relayed = time.monotonic()
            if time.monotonic() - asked >= RESUME_EVERY:
                app.send_task(names.RESUME_STALLED, kwargs={"stall_seconds": STALL_SECONDS}, expires=RESUME_EVERY)
                sent, asked = sent + 1, time.monotonic()
        except (sa.exc.DBAPIError, redis.RedisError, kombu.exceptions.OperationalError):
            pass  # postgres or redis is being restarted (the chaos thread's doing): ask again in a second
        time.sleep(1)
    return sent


_RESUMED_RE = re.compile(r"^resumed stalled sync ([0-9a-f-]{36}): (.*)$")


def _resumed(logs: Path) -> dict[str, list[str]]:
    """What the workers resumed, for the report: tasks.sync.resume logs each stalled sync with the steps it
    sent (a JSON line: {"event": "resumed stalled sync <id>: <step>; <step>", ...})."""
    resumed: dict[str, list[str]] = {}
    for log in sorted(logs.glob("worker*.log")):
        for line in log.read_bytes().splitlines():
            if b"resumed stalled sync" not in line:
                continue
            try:
                event = str(json.loads(line).get("event", ""))
            except ValueError:  # a line that is not JSON (Celery's own output)
                continue
            m = _RESUMED_RE.match(event)
            if m:
                resumed.setdefault(m.group(1), []).extend(m.group(2).split("; "))
    return resumed


def _report(conns: list[dict[str, Any]], hids: dict[str, str], sims: dict[str, str],
            opts: ChaosOptions) -> dict[str, Any]:
    import sqlalchemy as sa

    from nexus_sync import db
    from nexus_sync.archive import TABLE, get_archive
    from nexus_sync.redis_client import get_redis

    truth: dict[str, dict[str, set[str]]] = {}
    for label, url in sims.items():
        truth[label] = {v: set(requests.get(f"{url}/_sim/{v}/truth", timeout=60).json()["records"])
                        for v in (("crowdstrike", "okta") if label == "faulty" else ("crowdstrike",))}
    rows: list[dict[str, Any]] = []
    totals = {"expected": 0, "present": 0, "missing": 0, "duplicated": 0, "archive_duplicated": 0,
              "cursor_ahead_of_data": 0, "unreachable": 0}
    engine = db.get_engine()
    with engine.connect() as conn:
        statuses: dict[str, int] = dict(conn.execute(sa.select(db.sync_history.c.status, sa.func.count()).where(
            db.sync_history.c.id.in_([uuid.UUID(h) for h in hids.values()])).group_by(db.sync_history.c.status)).all())
        for c in conns:
            expected = truth["broken" if c["broken"] else "faulty"][c["type"]]
            stored = conn.execute(sa.text("SELECT source_id, count(*) FROM raw_data WHERE tenant_id = :t "
                                          "GROUP BY source_id"), {"t": c["tenant_id"]}).all()
            present = {r[0] for r in stored}
            dup = sum(r[1] - 1 for r in stored)
            cursor = conn.execute(sa.select(db.connector_state.c.cursor).where(
                db.connector_state.c.connector_id == c["id"])).scalar()
            max_data = conn.execute(sa.text(f"SELECT max({CURSOR_SQL[c['type']]}) FROM raw_data "
                                            "WHERE tenant_id = :t"), {"t": c["tenant_id"]}).scalar()
            ahead = int(cursor is not None and (max_data is None or cursor > max_data))
            status = conn.execute(sa.select(db.sync_history.c.status).where(
                db.sync_history.c.id == uuid.UUID(hids[c["name"]]))).scalar()
            arch = get_archive().query(f"SELECT count() AS n, uniqExact(id) AS u FROM {TABLE} "
                                       f"WHERE tenant_id = toUUID('{c['tenant_id']}')")[0]
            row = {"connector": c["name"], "status": status, "expected": len(expected), "present": len(present),
                   "missing": len(expected - present), "duplicated": dup,
                   "archive_duplicated": int(arch["n"]) - int(arch["u"]), "cursor_ahead": ahead}
            if c["broken"]:  # its endpoint never answers: nothing can be stored, nothing may be claimed
                totals["unreachable"] += len(expected)
                row["missing"] = 0
            else:
                totals["expected"] += len(expected)
                totals["missing"] += row["missing"]
            totals["present"] += len(present)
            totals["duplicated"] += dup
            totals["archive_duplicated"] += row["archive_duplicated"]
            totals["cursor_ahead_of_data"] += ahead
            rows.append(row)
        broken_ids = [c["id"] for c in conns if c["broken"]]
        letters = conn.execute(sa.select(db.dead_letters.c.task_name, db.dead_letters.c.connector_id)).all()
        letter_errors = [f"{r.task_name}: {r.exception_type}: {r.error[:200]}" for r in conn.execute(
            sa.select(db.dead_letters.c.task_name, db.dead_letters.c.exception_type, db.dead_letters.c.error))]
    stuck = [k.decode() for k in get_redis().scan_iter(names.lock_key("*"))]
    expected_dlq = len(broken_ids)  # one fetch task per sync of the broken connector
    dlq_ok = (len(letters) == expected_dlq
              and all(t == names.FETCH and cid in broken_ids for t, cid in letters))
    fault_stats = {label: {v: requests.get(f"{url}/_sim/{v}/stats", timeout=10).json().get("faults")
                           for v in (("crowdstrike", "okta") if label == "faulty" else ("crowdstrike",))}
                   for label, url in sims.items()}
    healthy_ok = all(r["status"] == "SUCCESS" for r, c in zip(rows, conns) if not c["broken"])
    ok = (totals["missing"] == 0 and totals["duplicated"] == 0 and totals["archive_duplicated"] == 0
          and not stuck and totals["cursor_ahead_of_data"] == 0 and dlq_ok and healthy_ok)
    return {"ok": ok, "totals": totals, "stuck_locks": stuck, "syncs_by_status": statuses,
            "dlq": {"expected": expected_dlq, "found": len(letters),
                    "tasks": sorted({t for t, _ in letters}), "errors": letter_errors}, "connectors": rows,
            "faults_served": fault_stats, "chaos_events": opts.events}


def _print(report: dict[str, Any], say: Callable[[str], None]) -> None:
    t = report["totals"]
    say("chaos report")
    say(f"  records expected {t['expected']}  present {t['present']}  missing {t['missing']}  "
        f"duplicated {t['duplicated']}  (archive duplicated {t['archive_duplicated']}; "
        f"unreachable behind the broken endpoint {t['unreachable']})")
    say(f"  stuck locks {len(report['stuck_locks'])}   cursors ahead of data {t['cursor_ahead_of_data']}")
    for hid, steps in (report.get("resumed_stalled") or {}).items():
        say(f"  resumed stalled sync {hid} (a lost broker message): {'; '.join(steps)}")
    say(f"  syncs by status {report['syncs_by_status']}")
    say(f"  DLQ entries expected {report['dlq']['expected']} found {report['dlq']['found']} "
        f"{report['dlq']['tasks']}")
    for err in report["dlq"]["errors"]:
        say(f"    dead letter: {err}")
    for r in report["connectors"]:
        say(f"    {r['connector']:<22} {r['status']:<8} expected {r['expected']:>6} present {r['present']:>6} "
            f"missing {r['missing']} dup {r['duplicated']} cursor-ahead {r['cursor_ahead']}")
    say(f"  faults served {json.dumps(report['faults_served'])}")
    say("  chaos: " + "; ".join(report["chaos_events"]))
    for line in outage.lines(report):
        say(line)
    say("CHAOS OK" if report["ok"] else "CHAOS FAILED")
