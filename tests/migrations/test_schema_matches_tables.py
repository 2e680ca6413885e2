"""The migrations build exactly the tables the code reads and writes (nexus_sync.db), and go down cleanly."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from nexus_sync import db
from nexus_sync.migrations import alembic_config
from tests.pipeline.helpers import scratch_database


def _differences(engine) -> list:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), db.metadata)
    # alembic's own bookkeeping table is not part of the model
    return [d for d in diffs if not (d[0] == "remove_table" and d[1].name == "alembic_version")]


def test_head_has_exactly_the_models_tables_columns_and_indexes(stack):
    with scratch_database("head") as engine:
        assert _differences(engine) == []


def test_the_latest_migration_goes_down_and_up_again(stack):
    from alembic import command

    with scratch_database("head") as engine:
        url = engine.url.render_as_string(hide_password=False)
        command.downgrade(alembic_config(url), "-1")
        command.upgrade(alembic_config(url), "head")
        assert _differences(engine) == []
