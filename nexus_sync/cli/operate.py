"""`nexus-sync worker`, `beat`, `flower` and `schedule …`: running and watching the pipeline."""
from __future__ import annotations

import json

import typer

from nexus_sync import console
from nexus_sync.cli.common import fail, warn
from nexus_sync.config import settings_or_exit

app = typer.Typer()
schedule_app = typer.Typer(help="Connector schedules in Celery beat (RedBeat, in Redis): derived from the "
                                "connectors table (interval, staggered offset, priority, enabled).",
                           no_args_is_help=True)


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


def reconcile_schedules() -> None:
    """After `connectors apply`: beat's entries follow the table at once (no beat restart)."""
    from nexus_sync import schedule

    try:
        typer.echo(str(schedule.reconcile()))
    except Exception as exc:  # the table is written; beat's periodic reconcile catches up
        warn(f"nexus-sync: connectors saved, but the schedules were not updated ({type(exc).__name__}: {exc}); "
             "beat reconciles every minute, or run `nexus-sync schedule reconcile`")


@schedule_app.command("show")
def schedule_show(as_json: bool = typer.Option(False, "--json", help="print the rows as JSON")) -> None:
    """Each connector's interval, stagger offset, priority, whether it is enabled, and its next run (UTC)
    as beat will send it (read from the RedBeat entry). An adaptive interval's state says its current step
    and why: "scheduled, adaptive 15m..24h: 2h, changed 3 % over the last 5 syncs"."""
    from nexus_sync import schedule

    settings_or_exit()
    rows = schedule.show()
    if as_json:
        typer.echo(json.dumps([{**r.__dict__, "offset_seconds": r.offset} for r in rows], indent=2, default=str))
        return
    if not rows:
        typer.echo("no connectors: add some with `nexus-sync connectors apply connectors.yaml`")
        return
    console.table(["connector", "interval", "offset", "priority", "enabled", "next run (UTC)", "state"],
                  [(r.connector, r.interval, schedule.format_offset(r.offset), r.priority,
                    "yes" if r.enabled else "no", None if r.next_run is None else f"{r.next_run:%Y-%m-%d %H:%M:%S}",
                    schedule.state_text(r)) for r in rows])


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
            warn(f"nexus-sync beat: could not reconcile the schedules: {type(exc).__name__}: {exc}")
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
        warn("nexus-sync flower: basic auth is OFF (--no-auth)")
    flower_mod.run(port, address, no_auth, ctx.args)
