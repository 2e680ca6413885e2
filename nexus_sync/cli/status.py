"""`nexus-sync status`: what the pipeline owes the stores it only writes to (the outbox), per target."""
from __future__ import annotations

import json

import typer

from nexus_sync import console
from nexus_sync.config import settings_or_exit

app = typer.Typer()


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.0f}m" if seconds < 7200 else f"{seconds / 3600:.1f}h"


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="print the rows as JSON")) -> None:
    """Work owed to each target — archive (ClickHouse), kafka, webhook:<subscriber> — not yet done: how many
    rows, the age of the oldest, and for a target that is down, since when, its next retry and last error.
    Syncs go on closing in PostgreSQL meanwhile; the relay sends what is owed once the target is back.
    Ends with the outbox alerts (behind more than 15 minutes, past its size or age bound)."""
    from nexus_sync.outbox import lag

    settings_or_exit()
    lags = lag.owed()
    alerts = lag.alerts(lags)
    if as_json:
        typer.echo(json.dumps({"targets": [{**vars(x)} for x in lags],
                               "alerts": [{"severity": s, "message": m} for s, m in alerts]}, indent=2, default=str))
        return
    if not lags:
        typer.echo("outbox: nothing owed — archive, Kafka and webhooks are caught up")
        return
    console.table(["target", "owed", "oldest", "down since (UTC)", "next retry (UTC)", "last error"],
                  [(x.target, x.owed, _age(x.oldest_seconds) if x.owed else "-",
                    f"{x.down_since:%H:%M:%S}" if x.down_since else None,
                    f"{x.retry_at:%H:%M:%S}" if x.retry_at else None, (x.last_error or "")[:80] or None)
                   for x in lags], right=["owed", "oldest"])
    for severity, message in alerts:
        typer.echo(f"ALERT {severity}: {message}")
