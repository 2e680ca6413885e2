"""`nexus-sync records …`: what the synced records say of themselves — which have gone missing at their vendor."""
from __future__ import annotations

import json

import typer

from nexus_sync import console
from nexus_sync.config import settings_or_exit

app = typer.Typer(help="Synced records: which ones a connector's vendor no longer lists.", no_args_is_help=True)


@app.command("stale")
def records_stale(
    connector: str = typer.Option(..., "--connector", help="connector name or id"),
    days: float = typer.Option(7, "--days", min=0, help="missing for at least this many days"),
    as_json: bool = typer.Option(False, "--json", help="print the rows as JSON"),
) -> None:
    """Rows of CONNECTOR that a complete full sync did not see, missing for at least DAYS days (longest first).
    A row is marked missing only after a sync that proved it listed everything (no gap, every vendor total
    met, not incremental); it is cleared when the vendor lists it again."""
    from nexus_sync.pipeline.lifecycle import stale

    settings_or_exit()
    rows = stale(connector, days)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    console.table(["source id", "type", "missing since (UTC)", "last seen (UTC)"],
                  [(r["source_id"], r["type"], r["missing_since"], r["last_seen"]) for r in rows])
    typer.echo(f"{len(rows)} row(s) of {connector} missing for {days:g}+ day(s)")
