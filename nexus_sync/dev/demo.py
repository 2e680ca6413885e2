"""`make demo`: a real sync of two connectors, twice, on the embedded stack against the simulator."""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import requests
import sqlalchemy as sa
import typer

from nexus_sync import catalog, console, db, names, runs
from nexus_sync.archive import TABLE, get_archive
from nexus_sync.config import get_settings
from nexus_sync.console import print_report
from nexus_sync.dev import devstack, procs
from nexus_sync.migrations import upgrade
from nexus_sync.redis_client import get_redis
from nexus_sync.urls import mask

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CONNECTORS = {"crowdstrike": "crowdstrike-demo", "okta": "okta-demo"}


def say(text: str) -> None:
    typer.secho(f"==> {text}", fg=typer.colors.CYAN)


def _reset_tenant(tenant_id: uuid.UUID) -> None:
    """Start from an empty tenant so the demo's numbers mean the same on every run."""
    with db.get_engine().begin() as conn:
        conn.execute(db.raw_data.delete().where(db.raw_data.c.tenant_id == tenant_id))
    r = get_redis()
    for key in r.scan_iter(names.dedup_pattern(tenant_id)):
        r.delete(key)
    get_archive().execute(f"ALTER TABLE {TABLE} DELETE WHERE tenant_id = toUUID('{tenant_id}')")


def kafka_events(sync_ids: set[str], timeout: float = 30.0) -> list[dict[str, Any]]:
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": get_settings().kafka, "group.id": f"demo-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "session.timeout.ms": 2000,
                         "heartbeat.interval.ms": 300, "enable.auto.commit": False})
    consumer.subscribe([get_settings().kafka_topic])
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(found) < len(sync_ids):
            msg = consumer.poll(0.5)
            value = None if msg is None or msg.error() else msg.value()
            if value is None:
                continue
            event = orjson.loads(value)
            if event.get("sync_id") in sync_ids:
                found.append(event)
    finally:
        consumer.close()
    return found


def gmp_env(state: Path) -> dict[str, str]:
    """Greenbone's simulator speaks GMP over TLS on a port of its own per type, with a CA made at start: fixed
    here, before it starts, so examples/connectors-all.yaml can name them (${NEXUS_SIM_GREENBONE_PORT},
    ${NEXUS_SIM_GMP_CA_DIR}/greenbone-ca.pem)."""
    import connectors
    from nexus_sync.simulator.gmp import GMP_CA_ENV, GMP_PORT_ENV

    ca_dir = (state / "sim-gmp").resolve()
    ca_dir.mkdir(parents=True, exist_ok=True)
    env, ports = {GMP_CA_ENV: str(ca_dir)}, set()
    for vendor in sorted(t for t, c in connectors.registry().items() if c.auth == "gmp"):
        while (port := procs.free_port()) in ports:
            continue
        ports.add(port)
        env[GMP_PORT_ENV.format(vendor=vendor.upper())] = str(port)
    return env


def run_demo(devices: int, users: int, change: float, all_types: bool = False, per_type: int = 1000) -> int:

    settings = get_settings()
    state = settings.state_dir
    logs = state / "logs"
    was_running = bool(devstack.stack_info(state)) and all(s.running for s in devstack.status(state))
    started: list[procs.Proc] = []
    say("starting the embedded dev stack")
    info = devstack.up(state)
    try:
        say(mask(f"postgres {info['postgres']['url']} | redis {info['redis']['url']} | "
                 f"kafka {info['kafka']['bootstrap']} | clickhouse {info['clickhouse']['url']}"))
        upgrade(settings.db_url)
        port = procs.free_port()
        sim_url = f"http://127.0.0.1:{port}"
        env = {"NEXUS_SIM_URL": sim_url, "NEXUS_CREDENTIALS_FILE": str(EXAMPLES / "secrets.yaml"),
               "NEXUS_STATE_DIR": str(state), **(gmp_env(state) if all_types else {})}
        os.environ.update(env)
        specs = catalog.load_file(EXAMPLES / ("connectors-all.yaml" if all_types else "connectors.yaml"))
        sizes = ({s.type: per_type for s in specs} if all_types else {"crowdstrike": devices, "okta": users})
        say(f"starting the vendor simulator on {sim_url} ({', '.join(f'{v} {n}' for v, n in sizes.items())})")
        started.append(procs.start_simulator(logs / "simulator.log", port, sizes, env=env))
        say("starting a Celery worker")
        started.append(procs.start_worker(logs / "worker.log", env=env))
        catalog.apply(specs)
        for tenant in {s.tenant_id for s in specs}:
            _reset_tenant(tenant)
        if all_types:
            return _all_types(specs)
        reports: list[dict[str, Any]] = []
        for round_no in (1, 2):
            if round_no == 2:
                for vendor in CONNECTORS:
                    changed = requests.post(f"{sim_url}/_sim/{vendor}/mutate", json={"fraction": change},
                                            timeout=30).json()["changed"]
                    say(f"simulator: changed {changed} {vendor} records")
            say(f"sync round {round_no}: {', '.join(CONNECTORS.values())}")
            hids = [runs.trigger(name, "demo") for name in CONNECTORS.values()]
            for hid in hids:
                report = runs.wait(hid, timeout=900)
                print_report(report)
                reports.append(report)
        return _verify(reports, devices + users, specs[0].tenant_id)
    finally:
        say("stopping what the demo started")
        for p in reversed(started):
            p.stop()
        if not was_running:
            devstack.down(state)


def _drained(timeout: float = 60.0) -> None:
    """A sync closes once its rows are in PostgreSQL; its archive and events follow through the outbox relay
    (kicked after each persist and close): wait until nothing is owed."""
    from nexus_sync.outbox import lag

    deadline = time.monotonic() + timeout
    while any(x.owed for x in lag.owed()) and time.monotonic() < deadline:
        time.sleep(0.5)


def _verify(reports: list[dict[str, Any]], expected_rows: int, tenant_id: uuid.UUID) -> int:
    ok = all(r.get("status") == "SUCCESS" for r in reports)
    _drained()
    with db.get_engine().connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(db.raw_data)
                            .where(db.raw_data.c.tenant_id == tenant_id)).scalar_one()
    archived = get_archive().query(
        f"SELECT count() AS n FROM {TABLE} WHERE tenant_id = toUUID('{tenant_id}')")[0]["n"]
    expected_archive = sum(r["records"]["new"] + r["records"]["updated"] for r in reports)
    events = kafka_events({r["sync_id"] for r in reports})
    say("result")
    typer.echo(f"  raw_data rows          {rows} (expected {expected_rows})")
    typer.echo(f"  archived rows          {archived} (expected {expected_archive}: new + updated)")
    typer.echo(f"  Kafka events           {len(events)} on {get_settings().kafka_topic} (expected {len(reports)})")
    if events:
        typer.echo("  one event:             " + orjson.dumps(events[0]).decode())
    ok = ok and rows == expected_rows and int(archived) == expected_archive and len(events) == len(reports)
    typer.secho("demo OK" if ok else "demo FAILED", fg=typer.colors.GREEN if ok else typer.colors.RED)
    return 0 if ok else 1


def _all_types(specs: list[Any]) -> int:
    """One sync of every connector type at once; a report line per connector."""
    say(f"syncing {len(specs)} connectors at once")
    began = time.monotonic()
    hids = {s.name: runs.trigger(s.name, "demo") for s in specs}
    reports = {name: runs.wait(hid, timeout=900) for name, hid in hids.items()}
    wall = time.monotonic() - began
    console.table(["connector", "status", "new", "invalid", "pages", "secs", "rec/s", "follow-up"],
                  [(name, r.get("status", "?"), r.get("records", {}).get("new", 0),
                    r.get("records", {}).get("invalid", 0), r.get("pages", 0), f"{r.get('duration_ms', 0) / 1000:.2f}",
                    r.get("records_per_second", 0), r.get("follow_up") or "") for name, r in reports.items()],
                  right=("new", "invalid", "pages", "secs", "rec/s"))
    stored = sum(r.get("records", {}).get("new", 0) for r in reports.values())
    with db.get_engine().connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(db.raw_data)
                            .where(db.raw_data.c.tenant_id == specs[0].tenant_id)).scalar_one()
    ok = all(r.get("status") == "SUCCESS" for r in reports.values()) and rows == stored
    typer.echo(f"  {len(reports)} connectors, {stored} records in {wall:.1f}s wall; raw_data holds {rows}")
    typer.secho("demo OK" if ok else "demo FAILED", fg=typer.colors.GREEN if ok else typer.colors.RED)
    return 0 if ok else 1
