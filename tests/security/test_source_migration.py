"""Finding 8's migration: rows stored with source = connector type get their connector's name, nothing lost."""
from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from nexus_sync.migrations import upgrade
from tests.pipeline.helpers import scratch_database


def test_existing_rows_move_to_their_connectors_name(stack):
    with scratch_database("0002") as engine:
        t_one, t_two = uuid.uuid4(), uuid.uuid4()
        lone, old, newer = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        now = datetime(2026, 12, 1)
        with engine.begin() as c:
            for cid, cname, tenant in ((lone, "okta-prod", t_one), (old, "okta-eu", t_two), (newer, "okta-us", t_two)):
                c.execute(sa.text("INSERT INTO connectors (id, name, type, tenant_id) VALUES (:i, :n, 'okta', :t)"),
                          {"i": cid, "n": cname, "t": tenant})
            for cid, tenant, ended in ((old, t_two, datetime(2026, 11, 1)), (newer, t_two, datetime(2026, 11, 2))):
                c.execute(sa.text("""INSERT INTO sync_history (id, tenant_id, connector_id, sync_id, status,
                    records_processed, records_new, records_updated, errors_count, duration_ms, started_at, completed_at)
                    VALUES (:h, :t, :c, 's', 'SUCCESS', 0, 0, 0, 0, 0, :e, :e)"""),
                          {"h": uuid.uuid4(), "t": tenant, "c": cid, "e": ended})
            for tenant, sid in ((t_one, "00u1"), (t_one, "00u2"), (t_two, "00u3")):
                c.execute(sa.text("""INSERT INTO raw_data (id, tenant_id, source, type, source_id, hash, data, raw_data,
                    ingested_at, last_seen) VALUES (:i, :t, 'okta', 'user', :s, 'h', '{}', '{}', :n, :n)"""),
                          {"i": uuid.uuid4(), "t": tenant, "s": sid, "n": now})
        upgrade(engine.url.render_as_string(hide_password=False))
        with engine.connect() as c:
            rows = dict(c.execute(sa.text("SELECT source_id, source FROM raw_data")).all())
    # the only okta connector of its tenant; of two, the one that synced last (it wrote the mixed rows last)
    assert rows == {"00u1": "okta-prod", "00u2": "okta-prod", "00u3": "okta-us"}
