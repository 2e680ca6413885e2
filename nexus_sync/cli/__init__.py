"""`nexus-sync`: the command line of operators and developers. One module per group of commands:
stack (dev stack, database, simulator), connectors, syncs, dlq, operate (worker, beat, flower, schedules),
status (what the outbox owes), tools (demo, chaos, bench)."""
from __future__ import annotations

import sys

import typer

from nexus_sync.cli import connectors, dlq, entities, operate, records, stack, status, syncs, tools
from nexus_sync.cli.syncs import run_sync, wait_for
from nexus_sync.config import ConfigError
from nexus_sync.errors import SyncError

__all__ = ["app", "main", "run_sync", "wait_for"]

app = typer.Typer(help="nexus-sync: pull security data from vendor tools on a schedule, normalize, dedup, "
                       "store in PostgreSQL, archive in ClickHouse, announce on Kafka.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
for sub, name in ((stack.dev_app, "dev"), (stack.db_app, "db"), (connectors.app, "connectors"),
                  (syncs.app, "sync"), (dlq.app, "dlq"), (stack.sim_app, "simulator"),
                  (operate.schedule_app, "schedule"), (entities.app, "entities"), (records.app, "records")):
    app.add_typer(sub, name=name)
app.add_typer(operate.app)  # worker, beat, flower: top-level commands
app.add_typer(status.app)  # status: what the outbox owes
app.add_typer(tools.app)  # demo, chaos, bench


def main() -> None:
    from connectors import BrokenConnector

    try:
        app()
    except (ConfigError, SyncError, BrokenConnector) as exc:
        from nexus_sync.credentials import redact

        typer.secho(f"nexus-sync: {redact(str(exc))}", fg=typer.colors.RED, err=True)  # URL credentials masked
        sys.exit(2)
