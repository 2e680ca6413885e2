"""`nexus-sync sync …`: run a sync by hand and follow it, read the history and one sync's report."""
from __future__ import annotations

import json
import uuid
from typing import Any, Optional

import typer

from nexus_sync import console
from nexus_sync.cli.common import fail
from nexus_sync.config import settings_or_exit

app = typer.Typer(help="Run syncs by hand and read their history.", no_args_is_help=True)


@app.command("run")
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
        console.print_report(report)
    if report.get("status") != "SUCCESS":
        raise typer.Exit(1)


def run_sync(connector: str, wait: bool, timeout: float = 1800, progress: bool = True) -> dict[str, Any]:
    """Trigger a sync of CONNECTOR (name or id); with `wait`, follow it and return its report."""
    from nexus_sync import catalog, runs

    settings_or_exit()
    row = catalog.get(connector)
    sync_hid = runs.trigger(row.name, "manual")
    if not wait:
        typer.echo(f"enqueued sync {sync_hid} of {row.name}")
        return {"sync_hid": sync_hid}
    return wait_for(sync_hid, timeout, progress)


def wait_for(sync_hid: str, timeout: float, progress: bool = True) -> dict[str, Any]:
    """The sync's report once it has closed; a progress bar on a terminal meanwhile."""
    from nexus_sync import runs

    try:
        if not progress:
            return runs.wait(sync_hid, timeout)
        with console.progress(f"sync {sync_hid[:8]} batches") as update:
            return runs.wait(sync_hid, timeout,
                             on_progress=lambda p: update(p.batches, p.pages, p.records))
    except runs.SyncTimeout as exc:
        fail(str(exc))


@app.command("history")
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
    console.table(["started (UTC)", "connector", "status", "processed", "new", "updated", "errors", "secs",
                   "sync_id"],
                  [(f"{r.started_at:%Y-%m-%d %H:%M:%S}", r.name, r.status, r.records_processed, r.records_new,
                    r.records_updated, r.errors_count, f"{r.duration_ms / 1000:.2f}", r.sync_id) for r in rows],
                  right=("processed", "new", "updated", "errors", "secs"))


@app.command("show")
def sync_show(sync_id: str = typer.Argument(..., help="sync_id (sync-…) or sync_history id")) -> None:
    """The stored report of one sync."""
    import sqlalchemy as sa

    from nexus_sync import db, runs

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
    console.print_report(runs.report_of(sync_id, row.status, row.error_details or {}))
