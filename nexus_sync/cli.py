"""`nexus-sync`: the command line of operators and developers."""
from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer

from nexus_sync.config import ConfigError, settings_or_exit
from nexus_sync.console import print_report
from nexus_sync.errors import SyncError

app = typer.Typer(help="nexus-sync: pull security data from vendor tools on a schedule, normalize, dedup, "
                       "store in PostgreSQL, archive in ClickHouse, announce on Kafka.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
dev_app = typer.Typer(help="The embedded dev stack: real PostgreSQL, Redis, Kafka (Tansu) and ClickHouse "
                           "(chdb) from pip, under one state folder (NEXUS_STATE_DIR, default .nexus/).",
                      no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
connectors_app = typer.Typer(help="Connector instances: apply a connectors.yaml, list them and their types.",
                             no_args_is_help=True)
sync_app = typer.Typer(help="Run syncs by hand and read their history.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead-letter queue: tasks that kept failing, kept with their error; replayable.",
                      no_args_is_help=True)
sim_app = typer.Typer(help="Vendor API simulator (CrowdStrike, Okta, ...) over real HTTP on localhost.",
                      no_args_is_help=True)
for sub, name in ((dev_app, "dev"), (db_app, "db"), (connectors_app, "connectors"), (sync_app, "sync"),
                  (dlq_app, "dlq"), (sim_app, "simulator")):
    app.add_typer(sub, name=name)


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"nexus-sync: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def main() -> None:
    from connectors import BrokenConnector

    try:
        app()
    except (ConfigError, SyncError, BrokenConnector) as exc:
        from nexus_sync.credentials import redact

        typer.secho(f"nexus-sync: {redact(str(exc))}", fg=typer.colors.RED, err=True)  # URL credentials masked
        sys.exit(2)


# ----------------------------------------------------------------------------- dev
@dev_app.command("up")
def dev_up() -> None:
    """Start the dev stack (idempotent: running services are left alone) and print its URLs."""
    from nexus_sync.dev import devstack

    info = devstack.up(settings_or_exit().state_dir)
    _print_stack(info)


@dev_app.command("down")
def dev_down() -> None:
    """Stop every service of the dev stack (data stays in the state folder)."""
    from nexus_sync.dev import devstack

    devstack.down(settings_or_exit().state_dir)
    typer.echo("dev stack stopped")


@dev_app.command("status")
def dev_status() -> None:
    """Show which dev-stack services run, their pids and URLs."""
    from nexus_sync.dev import devstack

    rows = devstack.status(settings_or_exit().state_dir)
    for s in rows:
        typer.echo(f"{s.name:<11} {'running' if s.running else 'stopped':<8} pid={s.pid or '-':<8} {s.url} "
                   f"{s.detail}")
    if not all(s.running for s in rows):
        raise typer.Exit(1)


def _print_stack(info: dict[str, Any]) -> None:
    typer.echo(f"state dir   {info['state_dir']}")
    from nexus_sync.urls import mask  # the stack's URLs carry its Redis and ClickHouse passwords

    typer.echo(f"postgres    {mask(info['postgres']['url'])}")
    typer.echo(f"redis       {mask(info['redis']['url'])}")
    typer.echo(f"kafka       {info['kafka']['bootstrap']}")
    typer.echo(f"clickhouse  {mask(info['clickhouse']['url'])}  (chdb engine, data {info['clickhouse']['path']})")


# ------------------------------------------------------------------------------ db
@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="target revision")) -> None:
    """Apply the migrations up to REVISION (default: the latest)."""
    from nexus_sync.migrations import upgrade

    settings = settings_or_exit()
    upgrade(settings.db_url, revision)
    typer.echo(f"database at {revision}")


# ---------------------------------------------------------------------- connectors
@connectors_app.command("apply")
def connectors_apply(file: Path = typer.Argument(..., help="connectors.yaml: a `connectors:` list of "
                                                           "name, type, tenant_id, interval, priority, config")) -> None:
    """Create or update connector instances from FILE (validated first: nothing is written on an error)."""
    from nexus_sync import catalog

    settings_or_exit()
    specs = catalog.load_file(file)
    ids = catalog.apply(specs)
    for spec, cid in zip(specs, ids):
        typer.echo(f"applied {spec.name} ({spec.type}) id={cid}")
    _reconcile_schedules()  # beat's entries follow at once (see `nexus-sync schedule show`)


@connectors_app.command("list")
def connectors_list() -> None:
    """List connector instances with their type, interval and state."""
    from nexus_sync import catalog

    settings_or_exit()
    rows = catalog.list_all()
    if not rows:
        typer.echo("no connectors: add some with `nexus-sync connectors apply connectors.yaml`")
    for r in rows:
        typer.echo(f"{r.name:<24} {r.type:<14} every {r.interval:<5} {r.priority:<6} "
                   f"{'enabled' if r.enabled else 'disabled':<8} {r.id}")


@connectors_app.command("types")
def connectors_types() -> None:
    """List every connector type this build knows: category, kind, auth and paging."""
    import connectors

    typer.echo(f"{'type':<13} {'category':<14} {'kind':<14} {'auth':<8} {'paging':<34} title")
    for name, cls in sorted(connectors.registry().items()):
        typer.echo(f"{name:<13} {cls.category:<14} {cls.kind:<14} {cls.auth:<8} {cls.paging:<34} {cls.title}")


# ---------------------------------------------------------------------------- sync
@sync_app.command("run")
def sync_run(
    connector: str = typer.Argument(..., help="connector name or id"),
    wait: bool = typer.Option(False, "--wait", help="follow the sync, print its report, exit 1 unless SUCCESS"),
    timeout: float = typer.Option(1800, help="with --wait: give up after this many seconds"),
    as_json: bool = typer.Option(False, "--json", help="with --wait: print the report as JSON"),
) -> None:
    """Enqueue a sync of CONNECTOR now (a worker must be running: `nexus-sync worker`)."""
    report = run_sync(connector, wait=wait, timeout=timeout, progress=not as_json)
    if not wait:
        return
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        print_report(report)
    if report.get("status") != "SUCCESS":
        raise typer.Exit(1)


def run_sync(connector: str, wait: bool, timeout: float = 1800, progress: bool = True) -> dict[str, Any]:
    from nexus_sync import catalog, runs

    settings_or_exit()
    row = catalog.get(connector)
    sync_hid = runs.trigger(row.name, "manual")
    if not wait:
        typer.echo(f"enqueued sync {sync_hid} of {row.name}")
        return {"sync_hid": sync_hid}
    return wait_for(sync_hid, timeout, progress)


def wait_for(sync_hid: str, timeout: float, progress: bool = True) -> dict[str, Any]:
    from nexus_sync import runs

    def show(p: runs.Progress) -> None:
        total = f"/{p.pages}" if p.pages else ""
        bar = ""
        if p.pages:
            filled = int(30 * p.batches / p.pages)
            bar = "[" + "#" * filled + "." * (30 - filled) + "] "
        typer.echo(f"\r{bar}batches {p.batches}{total}  records {p.records}   ", nl=False, err=True)

    try:
        report = runs.wait(sync_hid, timeout, on_progress=show if progress else None)
    except runs.SyncTimeout as exc:
        fail(str(exc))
    if progress:
        typer.echo("", err=True)
    return report


@sync_app.command("history")
def sync_history(
    connector: Optional[str] = typer.Argument(None, help="connector name or id (default: all)"),
    limit: int = typer.Option(20, help="rows to show"),
) -> None:
    """Recent syncs, newest first: status, counts, duration."""
    import sqlalchemy as sa

    from nexus_sync import catalog, db

    settings_or_exit()
    sh, c = db.sync_history.c, db.connectors.c
    q = (sa.select(sh.sync_id, c.name, sh.status, sh.records_processed, sh.records_new, sh.records_updated,
                   sh.errors_count, sh.duration_ms, sh.started_at)
         .join(db.connectors, c.id == sh.connector_id).order_by(sh.started_at.desc()).limit(limit))
    if connector:
        q = q.where(sh.connector_id == catalog.get(connector).id)
    with db.get_engine().connect() as conn:
        rows = conn.execute(q).all()
    typer.echo(f"{'started (UTC)':<20} {'connector':<20} {'status':<8} {'processed':>9} {'new':>7} "
               f"{'updated':>7} {'errors':>6} {'secs':>7}  sync_id")
    for r in rows:
        typer.echo(f"{r.started_at:%Y-%m-%d %H:%M:%S}  {r.name:<20} {r.status:<8} {r.records_processed:>9} "
                   f"{r.records_new:>7} {r.records_updated:>7} {r.errors_count:>6} {r.duration_ms / 1000:>7.2f}  "
                   f"{r.sync_id}")


@sync_app.command("show")
def sync_show(sync_id: str = typer.Argument(..., help="sync_id (sync-…) or sync_history id")) -> None:
    """The stored report of one sync."""
    import sqlalchemy as sa

    from nexus_sync import db

    settings_or_exit()
    sh = db.sync_history.c
    try:
        cond = sh.id == uuid.UUID(sync_id)
    except ValueError:
        cond = sh.sync_id == sync_id
    with db.get_engine().connect() as conn:
        row = conn.execute(sa.select(sh.status, sh.error_details).where(cond)).first()
    if row is None:
        fail(f"no sync {sync_id}")
    details = row.error_details or {}
    print_report(details.get("report") or {"status": row.status, "sync_id": sync_id, **details})


# ----------------------------------------------------------------------------- dlq
@dlq_app.command("list")
def dlq_list(
    connector: Optional[str] = typer.Option(None, help="only this connector (name or id)"),
    task: Optional[str] = typer.Option(None, help="only this task name, e.g. tasks.sync.fetch"),
    all_: bool = typer.Option(False, "--all", help="include entries already replayed"),
    older_than: Optional[str] = typer.Option(None, help="only entries older than this age, e.g. 2h, 7d"),
    newer_than: Optional[str] = typer.Option(None, help="only entries from the last AGE, e.g. 30m"),
) -> None:
    """Dead-lettered tasks, newest first."""
    from nexus_sync import catalog, dlq

    settings_or_exit()
    cid = catalog.get(connector).id if connector else None
    rows = dlq.list_entries(connector_id=cid, task=task, include_replayed=all_,
                            older_than=dlq.parse_age(older_than) if older_than else None,
                            newer_than=dlq.parse_age(newer_than) if newer_than else None)
    if not rows:
        typer.echo("dead-letter queue is empty")
    for r in rows:
        state = f"replayed {r.replayed_at:%H:%M:%S}" if r.replayed_at else "waiting"
        typer.echo(f"{r.id}  {r.failed_at:%Y-%m-%d %H:%M:%S}  {r.task_name:<22} {state:<17} "
                   f"{r.exception_type}: {r.error[:80]}")


@dlq_app.command("show")
def dlq_show(entry_id: str = typer.Argument(..., help="dead-letter id (from `dlq list`)")) -> None:
    """One dead letter: task, arguments, error and traceback (secrets redacted)."""
    from nexus_sync import dlq

    settings_or_exit()
    from nexus_sync.credentials import redact

    r = dlq.get_entry(entry_id)
    typer.echo(f"id          {r.id}\ntask        {r.task_name} ({r.task_id})\nargs        {redact(json.dumps(r.args))}\n"
               f"kwargs      {redact(json.dumps(r.kwargs))}\nqueue       {r.queue}\nretries     {r.retries}\n"
               f"failed at   {r.failed_at}\nreplayed at {r.replayed_at or '-'}\n"
               f"error       {r.exception_type}: {r.error}\n\n{r.traceback or ''}")


@dlq_app.command("replay")
def dlq_replay(
    entry_id: Optional[str] = typer.Argument(None, help="dead-letter id"),
    all_: bool = typer.Option(False, "--all", help="replay every entry not yet replayed"),
) -> None:
    """Send dead-lettered tasks again, with their original arguments."""
    from nexus_sync import dlq

    settings_or_exit()
    if not entry_id and not all_:
        fail("give a dead-letter id or --all")
    ids = dlq.replay(None if all_ else entry_id)
    for old, new in ids:
        typer.echo(f"replayed {old} as task {new}")
    if not ids:
        typer.echo("nothing to replay")


@dlq_app.command("purge")
def dlq_purge(
    connector: Optional[str] = typer.Option(None, help="only this connector (name or id)"),
    task: Optional[str] = typer.Option(None, help="only this task name"),
    older_than: Optional[str] = typer.Option(None, help="only entries older than this age, e.g. 7d"),
    replayed: bool = typer.Option(False, "--replayed", help="only entries already replayed"),
    yes: bool = typer.Option(False, "--yes", help="do it (without it: say how many would go)"),
) -> None:
    """Delete dead letters for good (asks for --yes)."""
    from nexus_sync import catalog, dlq

    settings_or_exit()
    cid = catalog.get(connector).id if connector else None
    age = dlq.parse_age(older_than) if older_than else None
    if not yes:
        n = len(dlq.list_entries(connector_id=cid, task=task, include_replayed=True, older_than=age, limit=10**9))
        typer.echo(f"{n} entr{'y' if n == 1 else 'ies'} match (replayed or not); add --yes to delete")
        return
    typer.echo(f"purged {dlq.purge(connector_id=cid, task=task, older_than=age, replayed_only=replayed)}")


# ------------------------------------------------------------------------ simulator
@sim_app.command("serve")
def simulator_serve(
    port: int = typer.Option(8900, help="port on 127.0.0.1"),
    seed: int = typer.Option(42, help="seed of the fake data: same seed, same records"),
    size: list[str] = typer.Option(["crowdstrike=5000", "okta=2000"], help="records per vendor, VENDOR=N"),
) -> None:
    """Serve the vendor APIs (real paths, auth, paging, 429s) with deterministic fake data."""
    from nexus_sync.simulator import SimConfig, serve_forever

    sizes = {}
    for item in size:
        vendor, _, n = item.partition("=")
        if not n.isdigit():
            fail(f"--size {item!r}: use VENDOR=N")
        sizes[vendor] = int(n)
    serve_forever(SimConfig(port=port, seed=seed, sizes=sizes))


# ---------------------------------------------------------------------- worker/demo
@app.command("worker", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker(
    ctx: typer.Context,
    queues: str = typer.Option("sync,archive", "-Q", "--queues", help="queues to consume"),
    concurrency: int = typer.Option(2, "-c", "--concurrency", help="worker processes"),
    pool: str = typer.Option("prefork", "-P", "--pool", help="prefork | threads | solo"),
    loglevel: str = typer.Option("INFO", "-l", "--loglevel"),
) -> None:
    """Start a Celery worker (checks the schema first). Extra options go to `celery worker`."""
    from nexus_sync import db
    from nexus_sync.migrations import NotMigrated, require_current

    settings_or_exit()
    try:
        require_current(db.get_engine())
    except NotMigrated as exc:
        fail(str(exc), 3)
    import os
    import socket

    settings = settings_or_exit()
    if settings.metrics_port and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # multiprocess metrics: set before anything imports prometheus_client (it picks its storage then)
        mdir = settings.state_dir.resolve() / "metrics" / f"{socket.gethostname()}-{os.getpid()}"
        mdir.mkdir(parents=True, exist_ok=True)
        for stale in mdir.glob("*.db"):
            stale.unlink()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(mdir)
    from nexus_sync.celery_app import app as celery

    celery.worker_main(["worker", "-Q", queues, "-c", str(concurrency), "-P", pool, "-l", loglevel, "-E",
                        *ctx.args])


@app.command("demo")
def demo(
    devices: int = typer.Option(5000, help="CrowdStrike hosts in the simulator"),
    users: int = typer.Option(2000, help="Okta users in the simulator"),
    change: float = typer.Option(0.10, help="fraction of records changed before the second sync"),
    all_types: bool = typer.Option(False, "--all", help="instead: one sync of every connector type at once "
                                                        "(examples/connectors-all.yaml), a report line each"),
    per_type: int = typer.Option(1000, help="with --all: records per connector type in the simulator"),
) -> None:
    """Start the stack, simulator and a worker; sync CrowdStrike and Okta twice; print reports; stop."""
    from nexus_sync.dev.demo import run_demo

    raise typer.Exit(run_demo(devices=devices, users=users, change=change, all_types=all_types, per_type=per_type))


@app.command("chaos")
def chaos(
    instances: int = typer.Option(3, help="connector instances per vendor (CrowdStrike, Okta), plus one broken"),
    crowdstrike: int = typer.Option(3000, help="CrowdStrike hosts in the faulty simulator"),
    okta: int = typer.Option(1500, help="Okta users in the faulty simulator"),
    rate_limit_rate: float = typer.Option(0.20, help="share of vendor requests answered 429"),
    error_rate: float = typer.Option(0.05, help="share answered 503"),
    timeout_rate: float = typer.Option(0.02, help="share that never answer in time"),
    out: Optional[Path] = typer.Option(None, help="save the report as JSON in this folder"),
    keep: bool = typer.Option(False, "--keep", help="keep the run's state folder (logs)"),
) -> None:
    """Sync many connectors against a faulty simulator while workers are SIGKILLed and Redis and
    PostgreSQL restart; then compare the database with the simulator's ground truth (own stack)."""
    from nexus_sync.dev.chaos import ChaosOptions, run

    raise typer.Exit(run(ChaosOptions(instances=instances, crowdstrike=crowdstrike, okta=okta,
                                      rate_limit_rate=rate_limit_rate, error_5xx_rate=error_rate,
                                      timeout_rate=timeout_rate, out=out, keep=keep, say=typer.echo)))


@app.command("bench")
def bench(
    records: int = typer.Option(100_000, help="records of the main CrowdStrike-shaped sync"),
    small: int = typer.Option(10_000, help="records of the small sync of the RSS series"),
    large: int = typer.Option(0, help="only the large RSS run with this many records (make bench-large)"),
    page_size: int = typer.Option(5000, help="CrowdStrike page size (records per batch, at most 5000)"),
    concurrency: int = typer.Option(0, help="worker processes (0: two per core)"),
    cycle_records: int = typer.Option(1000, help="records per connector type in the full cycle"),
    copy_reps: int = typer.Option(3, help="repetitions of the COPY-limit measurement (the median counts)"),
    profile: bool = typer.Option(True, "--profile/--no-profile", help="py-spy the worker on extra syncs"),
    out: Path = typer.Option(Path("bench"), help="folder of results/<date>.json and SUMMARY.md"),
    keep: bool = typer.Option(False, "--keep", help="keep the benchmark's state folder (logs, profiles)"),
) -> None:
    """Benchmark the real pipeline on an embedded stack of its own; print and save the results."""
    from nexus_sync.dev.bench import Options
    from nexus_sync.dev.bench import main as run_bench

    raise typer.Exit(run_bench(Options(records=records, small=small, large=large, page_size=page_size,
                                       concurrency=concurrency, cycle_records=cycle_records, copy_reps=copy_reps,
                                       profile=profile, out=out, keep=keep)))


# -------------------------------------------------------------- operate: schedules, beat, flower
schedule_app = typer.Typer(help="Connector schedules in Celery beat (RedBeat, in Redis): derived from the "
                                "connectors table (interval, staggered offset, priority, enabled).",
                           no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")


def _reconcile_schedules() -> None:
    """After `connectors apply`: beat's entries follow the table at once (no beat restart)."""
    from nexus_sync import schedule

    try:
        typer.echo(str(schedule.reconcile()))
    except Exception as exc:  # the table is written; beat's periodic reconcile catches up
        typer.secho(f"nexus-sync: connectors saved, but the schedules were not updated ({type(exc).__name__}: "
                    f"{exc}); beat reconciles every minute, or run `nexus-sync schedule reconcile`",
                    fg=typer.colors.YELLOW, err=True)


@schedule_app.command("show")
def schedule_show(as_json: bool = typer.Option(False, "--json", help="print the rows as JSON")) -> None:
    """Each connector's interval, stagger offset, priority, whether it is enabled, and its next run (UTC)
    as beat will send it (read from the RedBeat entry)."""
    from nexus_sync import schedule

    settings_or_exit()
    rows = schedule.show()
    if as_json:
        typer.echo(json.dumps([{**r.__dict__, "offset_seconds": r.offset} for r in rows], indent=2, default=str))
        return
    if not rows:
        typer.echo("no connectors: add some with `nexus-sync connectors apply connectors.yaml`")
        return
    for line in schedule.format_rows(rows):
        typer.echo(line)


@schedule_app.command("reconcile")
def schedule_reconcile() -> None:
    """Make beat's entries match the connectors table now (beat also does it every minute)."""
    from nexus_sync import schedule

    settings_or_exit()
    result = schedule.reconcile()
    typer.echo(str(result))
    if result.errors:
        raise typer.Exit(1)


@app.command("beat", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def beat(
    ctx: typer.Context,
    loglevel: str = typer.Option("INFO", "-l", "--loglevel"),
    reconcile: bool = typer.Option(True, "--reconcile/--no-reconcile",
                                   help="reconcile the schedules from the connectors table before starting"),
) -> None:
    """Start Celery beat with the RedBeat scheduler (one beat at a time: a Redis lock). Extra options go to
    `celery beat`, e.g. --max-interval 1."""
    from nexus_sync import schedule

    settings_or_exit()
    if reconcile:
        try:
            typer.echo(str(schedule.reconcile()))
        except Exception as exc:  # beat still runs the entries in Redis; its reconcile task retries
            typer.secho(f"nexus-sync beat: could not reconcile the schedules: {type(exc).__name__}: {exc}",
                        fg=typer.colors.YELLOW, err=True)
    from nexus_sync.celery_app import app as celery

    celery.start(["beat", "-S", "redbeat.RedBeatScheduler", "-l", loglevel, *ctx.args])


@app.command("flower", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def flower(
    ctx: typer.Context,
    port: int = typer.Option(5555, help="HTTP port"),
    address: str = typer.Option("127.0.0.1", help="address to listen on (0.0.0.0 in a container)"),
    no_auth: bool = typer.Option(False, "--no-auth", help="run WITHOUT basic auth (on purpose only)"),
) -> None:
    """Start Flower (Celery's dashboard) with basic auth: NEXUS_FLOWER_USER (default admin) and
    NEXUS_FLOWER_PASSWORD; refuses to start without a password unless --no-auth. Extra options go to Flower."""
    from nexus_sync import flower as flower_mod

    settings_or_exit()
    if no_auth:
        typer.secho("nexus-sync flower: basic auth is OFF (--no-auth)", fg=typer.colors.YELLOW, err=True)
    flower_mod.run(port, address, no_auth, ctx.args)


if __name__ == "__main__":
    main()
