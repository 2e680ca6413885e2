"""`nexus-sync entities …`: one machine or person across sources — show an entity, find one by a key."""
from __future__ import annotations

import json

import typer

from nexus_sync import console
from nexus_sync.cli.common import fail
from nexus_sync.config import settings_or_exit

app = typer.Typer(help="Entities: the rows of one real machine or person from every source, linked by strong keys.",
                  no_args_is_help=True)


@app.command("show")
def entities_show(
    entity_id: str = typer.Argument(..., help="entity id (from `entities find`)"),
    as_json: bool = typer.Option(False, "--json", help="print the entity as JSON"),
) -> None:
    """An entity: its keys, each linked row (source, type, source id, matched on, confidence, last seen) and its
    findings (each CVE with the sources that report it)."""
    from nexus_sync.entities import query

    settings_or_exit()
    try:
        e = query.show(entity_id)
    except query.NoEntity as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(e, indent=2))
        return
    console.fields([("entity", e["id"]), ("kind", e["kind"]), ("label", e["label"]), ("tenant", e["tenant_id"]),
                    ("sources", ", ".join(e["sources"]) or None), ("created", e["created_at"])])
    typer.echo("\nkeys")
    console.table(["type", "value"], [(k["type"], k["value"]) for k in e["keys"]])
    typer.echo("\nlinked rows")
    console.table(["source", "type", "source id", "matched on", "confidence", "last seen", "missing since"],
                  [(r["source"], r["type"], r["source_id"], r["matched_on"], f"{r['confidence']:.2f}",
                    r["last_seen"], r["missing_since"]) for r in e["links"]], right=["confidence"])
    if e["findings"]:
        typer.echo("\nfindings")
        console.table(["cve", "sources", "rows"], [(f["cve"], ", ".join(f["sources"]), f["rows"])
                                                   for f in e["findings"]], right=["rows"])


@app.command("find")
def entities_find(
    key: str = typer.Argument(..., help="a hostname or FQDN, MAC, serial, instance id, ARN, email, or source|id"),
    as_json: bool = typer.Option(False, "--json", help="print the matches as JSON"),
) -> None:
    """Entities known by a key, with the key that matched: to find the id `entities show` takes."""
    from nexus_sync.entities import query

    settings_or_exit()
    found = query.find(key)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    if not found:
        typer.echo(f"no entity is known by {key!r}")
        raise typer.Exit(1)
    console.table(["entity", "kind", "label", "matched", "value"],
                  [(f["id"], f["kind"], f["label"], f["key_type"], f["key_value"]) for f in found])
