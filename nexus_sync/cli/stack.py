"""`nexus-sync dev …`, `db …` and `simulator …`: the embedded stack, the schema and the vendor simulator."""
from __future__ import annotations

from typing import Any

import typer

from nexus_sync import console
from nexus_sync.cli.common import fail
from nexus_sync.config import settings_or_exit

dev_app = typer.Typer(help="The embedded dev stack: real PostgreSQL, Redis, Kafka (Tansu) and ClickHouse "
                           "(chdb) from pip, under one state folder (NEXUS_STATE_DIR, default .nexus/).",
                      no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
sim_app = typer.Typer(help="Vendor API simulator (CrowdStrike, Okta, ...) over real HTTP on localhost.",
                      no_args_is_help=True)


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
    console.table(["service", "state", "pid", "url", "detail"],
                  [(s.name, "running" if s.running else "stopped", s.pid, s.url, s.detail) for s in rows])
    if not all(s.running for s in rows):
        raise typer.Exit(1)


def _print_stack(info: dict[str, Any]) -> None:
    from nexus_sync.urls import mask  # the stack's URLs carry its Redis and ClickHouse passwords

    console.fields([("state dir", info["state_dir"]), ("postgres", mask(info["postgres"]["url"])),
                    ("redis", mask(info["redis"]["url"])), ("kafka", info["kafka"]["bootstrap"]),
                    ("clickhouse", f"{mask(info['clickhouse']['url'])}  (chdb engine, data "
                                   f"{info['clickhouse']['path']})")])


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="target revision")) -> None:
    """Apply the migrations up to REVISION (default: the latest)."""
    from nexus_sync.migrations import upgrade

    settings = settings_or_exit()
    upgrade(settings.db_url, revision)
    typer.echo(f"database at {revision}")


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
