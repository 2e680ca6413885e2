"""A record's identity is its source id: a repeated one in a page is merged (the later by modification time
kept, the other named in the report), and records sharing the spec's identity hash stay distinct rows."""
from __future__ import annotations

import copy
import uuid

from nexus_sync import db, pipeline, staging
from tests.pipeline.helpers import archive_count, close, raw_rows


def _one_page_sync(conn, edit) -> dict:
    hid = str(uuid.uuid4())
    assert not pipeline.start(conn.name, hid).skipped
    pipeline.fetch(hid, 0, None, None)
    raw = staging.get(hid, 0, "raw")
    edit(raw["records"])
    staging.put(hid, 0, "raw", raw)
    with db.get_engine().begin() as c:  # pretend page 0 is the only page
        c.execute(db.sync_runs.update().where(db.sync_runs.c.sync_history_id == uuid.UUID(hid)).values(pages_total=1))
    for stage in (pipeline.normalize, pipeline.dedup, pipeline.persist, pipeline.archive):
        stage(hid, 0)
    return close(hid)


def test_a_repeated_source_id_keeps_the_later_version_and_lands_the_rest(sim, make_connector):
    conn = make_connector(sim, "okta", page_size=200)
    state = {}

    def repeat(records):
        later = copy.deepcopy(records[10])
        later["profile"]["lastName"] = "Later"
        later["lastUpdated"] = "2099-01-01T00:00:00.000Z"
        records.insert(2, later)  # the later version comes first in the page: time decides, not order
        state["id"] = later["id"]

    report = _one_page_sync(conn, repeat)
    rows = {r.source_id: r for r in raw_rows(conn.tenant_id)}
    assert report["status"] == "SUCCESS" and len(rows) == 200  # nothing else of the page was thrown away
    assert rows[state["id"]].data["full_name"].endswith("Later")
    assert report["records"]["merged"] == 1
    (merged,) = report["merged_records"]
    assert merged["source_id"] == state["id"] and merged["index"] == 11
    assert archive_count(conn.tenant_id) == 200


def test_records_sharing_the_identity_hash_stay_distinct_rows(sim, make_connector):
    """The spec's user identity is type+source+email: two accounts of one email are still two vendor records."""
    conn = make_connector(sim, "okta", page_size=200)

    def same_email(records):
        records[7]["profile"]["email"] = records[8]["profile"]["email"]

    report = _one_page_sync(conn, same_email)
    rows = raw_rows(conn.tenant_id)
    assert report["records"]["new"] == 200 and len(rows) == 200
    assert len({r.hash for r in rows}) == 199  # one identity hash, two rows: matching is a separate question


def test_a_change_outside_the_normalized_fields_updates_the_stored_vendor_record(sim, make_connector):
    """Fidelity #10: the change decision covers the vendor record too (Rapid7 riskScore, OpenCTI score)."""
    from tests.pipeline.helpers import run_inline

    conn = make_connector(sim, "okta", page_size=200)
    run_inline(conn.name)
    vendor = sim.vendor("okta")
    sid = vendor.order[5]
    with vendor.lock:
        rec = copy.deepcopy(vendor.records[sid])
        rec["profile"]["mobilePhone"] = "+1 555 0100"  # not a normalized field
        vendor.records[sid] = rec
        vendor.version += 1
        vendor.on_data_changed()
    _, report = run_inline(conn.name)
    rows = {r.source_id: r for r in raw_rows(conn.tenant_id)}
    assert report["records"]["updated"] == 1 and report["records"]["unchanged"] == len(rows) - 1
    with db.get_engine().connect() as c:
        stored = c.execute(db.raw_data.select().where(db.raw_data.c.tenant_id == conn.tenant_id,
                                                      db.raw_data.c.source_id == sid)).one()
    assert stored.raw_data["profile"]["mobilePhone"] == "+1 555 0100"


def test_a_bogus_saved_cursor_runs_a_full_sync_and_is_replaced(sim, make_connector):
    """Security #11: a saved cursor that does not parse never reaches the vendor's query language, and it
    never freezes incremental syncs: the sync runs full and saves a good cursor."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    from connectors.cursors import canonical
    from tests.pipeline.helpers import cursor_of, run_inline

    conn = make_connector(sim, "okta", incremental=True)
    with db.get_engine().begin() as c:
        c.execute(pg_insert(db.connector_state).values(connector_id=conn.id, stream="users",
                                                       cursor='2024-01-01T00:00:00Z" or id eq "x'))
    _, report = run_inline(conn.name)
    truth = sim.truth("okta")
    assert report["status"] == "SUCCESS" and report["records"]["new"] == len(truth)
    assert cursor_of(conn.id) == canonical(max(r["lastUpdated"] for r in truth.values()), "iso")


def test_a_heartbeat_alone_is_not_a_change(sim, make_connector):
    """A connector's declared volatile paths (CrowdStrike last_seen) stay out of the change decision."""
    from tests.pipeline.helpers import run_inline

    conn = make_connector(sim, "crowdstrike", page_size=1000)
    run_inline(conn.name)
    vendor = sim.vendor("crowdstrike")
    with vendor.lock:
        for sid in vendor.order[:10]:
            rec = copy.deepcopy(vendor.records[sid])
            rec["last_seen"] = rec["agent_local_time"] = "2099-01-01T00:00:00Z"
            vendor.records[sid] = rec
        vendor.version += 1
        vendor.on_data_changed()
    _, report = run_inline(conn.name)
    assert report["records"]["updated"] == 0 and report["records"]["unchanged"] == len(vendor.order)
