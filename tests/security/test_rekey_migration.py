"""Migration 0004: Splunk rows move to `event_id`, Security Hub rows to `Id|ProductArn`; where two old rows
become one record, the latest stays. (Lives beside the 0003 migration test: both need a scratch database.)"""
from __future__ import annotations

import json
import uuid
from datetime import datetime

import sqlalchemy as sa

from nexus_sync.migrations import upgrade
from tests.pipeline.helpers import scratch_database


def _row(c, tenant, source, sid, raw, updated):
    c.execute(sa.text("""INSERT INTO raw_data (id, tenant_id, source, type, source_id, hash, data, raw_data,
        ingested_at, last_seen, updated_at) VALUES (:i, :t, :s, 'event', :sid, 'h', '{}', :r, :n, :n, :u)"""),
              {"i": uuid.uuid4(), "t": tenant, "s": source, "sid": sid, "r": json.dumps(raw),
               "n": datetime(2026, 12, 1), "u": updated})


def test_vendor_keys_replace_the_old_ones(stack):
    with scratch_database("0003") as engine:
        tenant = uuid.uuid4()
        with engine.begin() as c:
            for cname, ctype in (("splunk-es", "splunk"), ("sechub", "securityhub")):
                c.execute(sa.text("INSERT INTO connectors (id, name, type, tenant_id) VALUES (:i, :n, :t, :te)"),
                          {"i": uuid.uuid4(), "n": cname, "t": ctype, "te": tenant})
            _row(c, tenant, "splunk-es", "42:7", {"_cd": "42:7", "event_id": "EV-1"}, datetime(2026, 11, 1))
            _row(c, tenant, "splunk-es", "43:9", {"_cd": "43:9", "event_id": "EV-1"}, datetime(2026, 11, 2))  # later
            _row(c, tenant, "splunk-es", "44:1", {"_cd": "44:1"}, datetime(2026, 11, 1))  # no event_id: stays
            _row(c, tenant, "sechub", "arn:f/1", {"Id": "arn:f/1", "ProductArn": "arn:p/a"}, datetime(2026, 11, 1))
        upgrade(engine.url.render_as_string(hide_password=False))
        with engine.connect() as c:
            rows = {(r.source, r.source_id): r.raw_data for r in c.execute(sa.text(
                "SELECT source, source_id, raw_data FROM raw_data"))}
    assert set(rows) == {("splunk-es", "EV-1"), ("splunk-es", "44:1"), ("sechub", "arn:f/1|arn:p/a")}
    assert rows[("splunk-es", "EV-1")]["_cd"] == "43:9"
