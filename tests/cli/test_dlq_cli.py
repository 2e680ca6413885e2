"""DLQ operations from the shell: list with filters, show, purge."""
from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from nexus_sync import db
from nexus_sync.pipeline import utcnow
from tests.cli.test_config_and_cli import cli as cli_process


def cli(*args: str):
    """In-process: the same Typer app, without a new interpreter per call."""
    from typer.testing import CliRunner

    from nexus_sync.cli import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _letter(task: str, age: timedelta, connector_id=None) -> uuid.UUID:
    lid = uuid.uuid4()
    with db.get_engine().begin() as c:
        c.execute(db.dead_letters.insert().values(
            id=lid, task_name=task, task_id=str(uuid.uuid4()), args=["x", 1], kwargs={},
            connector_id=connector_id, exception_type="TransientError", error="GET /x: 503",
            traceback="Traceback ...", failed_at=utcnow() - age))
    return lid


def test_list_filters_show_and_purge(stack, sim, make_connector):
    conn = make_connector(sim, "okta")
    old = _letter("tasks.sync.fetch", timedelta(days=3), conn.id)
    new = _letter("tasks.sync.persist", timedelta(minutes=5), conn.id)
    out = cli("dlq", "list", "--connector", conn.name)
    assert str(old) in out.stdout and str(new) in out.stdout
    out = cli("dlq", "list", "--connector", conn.name, "--older-than", "1d")
    assert str(old) in out.stdout and str(new) not in out.stdout
    out = cli("dlq", "list", "--connector", conn.name, "--task", "tasks.sync.persist")
    assert str(new) in out.stdout and str(old) not in out.stdout
    out = cli_process("dlq", "list", "--older-than", "soon")
    assert out.returncode == 2 and "age 'soon'" in out.stderr
    shown = cli("dlq", "show", str(old))
    assert "tasks.sync.fetch" in shown.stdout and "GET /x: 503" in shown.stdout and "Traceback" in shown.stdout
    dry = cli("dlq", "purge", "--connector", conn.name, "--older-than", "1d")
    assert "1 entry match" in dry.stdout
    done = cli("dlq", "purge", "--connector", conn.name, "--older-than", "1d", "--yes")
    assert "purged 1" in done.stdout
    with db.get_engine().connect() as c:
        left = c.execute(sa.select(db.dead_letters.c.id).where(db.dead_letters.c.connector_id == conn.id)).scalars()
        assert list(left) == [new]
