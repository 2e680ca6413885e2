"""`nexus-sync records stale`: the rows a complete full sync marked missing, for at least --days days."""
from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa

from nexus_sync import db
from tests.pipeline.helpers import run_inline, small_simulator


def cli(*args: str):
    from typer.testing import CliRunner

    from nexus_sync.cli import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_records_stale_lists_rows_missing_for_at_least_the_days_given(make_connector):
    with small_simulator(43, sentinelone=120) as s1:
        conn = make_connector(s1, "sentinelone", page_size=100)
        run_inline(conn.name)
        removed = s1.vendor("sentinelone").remove_agents(3)
        rd = db.raw_data.c
        with db.get_engine().begin() as c:  # the first sync was a minute ago
            c.execute(db.raw_data.update().where(rd.tenant_id == conn.tenant_id)
                      .values(last_seen=rd.last_seen - timedelta(minutes=1)))
        run_inline(conn.name)
    with db.get_engine().begin() as c:  # missing for ten days now
        c.execute(db.raw_data.update().where(rd.tenant_id == conn.tenant_id, rd.source_id == removed[0])
                  .values(missing_since=rd.missing_since - timedelta(days=10)))

    out = cli("records", "stale", "--connector", conn.name, "--days", "7")
    assert out.exit_code == 0, out.output
    assert removed[0] in out.output and removed[1] not in out.output
    assert "1 row(s) of" in out.output and "source id" in out.output

    rows = json.loads(cli("records", "stale", "--connector", conn.name, "--days", "0", "--json").output)
    assert [r["source_id"] for r in rows] == [removed[0], *sorted(removed[1:])]  # longest missing first
    assert set(rows[0]) == {"source_id", "type", "missing_since", "last_seen"} and rows[0]["type"] == "asset"
    with db.get_engine().connect() as c:
        assert c.execute(sa.select(sa.func.count()).where(rd.tenant_id == conn.tenant_id,
                                                          rd.missing_since.is_not(None))).scalar() == 3
