"""`nexus-sync dlq …`: the dead-letter queue — list, show, replay, purge."""
from __future__ import annotations

import json
from typing import Optional

import typer

from nexus_sync import console, names
from nexus_sync.cli.common import fail
from nexus_sync.config import settings_or_exit

app = typer.Typer(help="Dead-letter queue: tasks that kept failing, kept with their error; replayable.",
                  no_args_is_help=True)


@app.command("list")
def dlq_list(
    connector: Optional[str] = typer.Option(None, help="only this connector (name or id)"),
    task: Optional[str] = typer.Option(None, help=f"only this task name, e.g. {names.FETCH}"),
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
        return
    console.table(["id", "failed at (UTC)", "task", "state", "error"],
                  [(r.id, f"{r.failed_at:%Y-%m-%d %H:%M:%S}", r.task_name,
                    f"replayed {r.replayed_at:%H:%M:%S}" if r.replayed_at else "waiting",
                    f"{r.exception_type}: {r.error[:80]}") for r in rows])


@app.command("show")
def dlq_show(entry_id: str = typer.Argument(..., help="dead-letter id (from `dlq list`)")) -> None:
    """One dead letter: task, arguments, error and traceback (secrets redacted)."""
    from nexus_sync import dlq
    from nexus_sync.credentials import redact

    settings_or_exit()
    r = dlq.get_entry(entry_id)
    console.fields([("id", r.id), ("task", f"{r.task_name} ({r.task_id})"), ("args", redact(json.dumps(r.args))),
                    ("kwargs", redact(json.dumps(r.kwargs))), ("queue", r.queue), ("retries", r.retries),
                    ("failed at", r.failed_at), ("replayed at", r.replayed_at),
                    ("error", f"{r.exception_type}: {r.error}")])
    if r.traceback:
        typer.echo("\n" + r.traceback)


@app.command("replay")
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


@app.command("purge")
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
