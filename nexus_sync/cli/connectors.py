"""`nexus-sync connectors …`: apply a connectors.yaml, list the instances and the types this build knows."""
from __future__ import annotations

from pathlib import Path

import typer

from nexus_sync import console
from nexus_sync.config import settings_or_exit

app = typer.Typer(help="Connector instances: apply a connectors.yaml, list them and their types.",
                  no_args_is_help=True)


@app.command("apply")
def connectors_apply(file: Path = typer.Argument(..., help="connectors.yaml: a `connectors:` list of "
                                                           "name, type, tenant_id, interval, priority, config")) -> None:
    """Create or update connector instances from FILE (validated first: nothing is written on an error)."""
    from nexus_sync import catalog
    from nexus_sync.cli.operate import reconcile_schedules

    settings_or_exit()
    specs = catalog.load_file(file)
    ids = catalog.apply(specs)
    for spec, cid in zip(specs, ids):
        typer.echo(f"applied {spec.name} ({spec.type}) id={cid}")
    reconcile_schedules()  # beat's entries follow at once (see `nexus-sync schedule show`)


@app.command("list")
def connectors_list() -> None:
    """List connector instances with their type, interval and state."""
    from nexus_sync import catalog

    settings_or_exit()
    rows = catalog.list_all()
    if not rows:
        typer.echo("no connectors: add some with `nexus-sync connectors apply connectors.yaml`")
        return
    console.table(["name", "type", "interval", "priority", "state", "id"],
                  [(r.name, r.type, r.interval, r.priority, "enabled" if r.enabled else "disabled", r.id)
                   for r in rows])


@app.command("types")
def connectors_types() -> None:
    """List every connector type this build knows: category, kind, auth and paging."""
    import connectors

    console.table(["type", "category", "kind", "auth", "paging", "title"],
                  [(name, cls.category, cls.kind, cls.auth, cls.paging, cls.title)
                   for name, cls in sorted(connectors.registry().items())])
