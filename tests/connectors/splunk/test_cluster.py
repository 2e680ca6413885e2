"""Splunk on an indexer cluster, through the real pipeline: `_cd` repeats across indexers and multivalue
fields come as JSON lists (issue 11, items 1 and 3); every notable the search returns lands as its own row."""
from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from connectors.splunk.simulator import _splunk_time
from nexus_sync import db
from nexus_sync.simulator import SimConfig, Simulator
from nexus_sync.simulator.data import DATA_EPOCH
from tests.pipeline.helpers import run_inline


def stored(tenant_id) -> dict[str, tuple[dict, dict]]:
    rd = db.raw_data.c
    with db.get_engine().connect() as conn:
        rows = conn.execute(sa.select(rd.source_id, rd.data, rd.raw_data).where(rd.tenant_id == tenant_id)).all()
    return {r.source_id: (r.data, r.raw_data) for r in rows}


def test_a_clustered_search_lands_every_notable(make_connector):
    s = Simulator(SimConfig(seed=11, sizes={"splunk": 300})).start()
    try:
        truth = list(s.truth("splunk").values())
        shared = [n for n in truth if Counter(t["_cd"] for t in truth)[n["_cd"]] > 1]
        multivalue = [n for n in truth if isinstance(n["dest"], list)]
        assert len(shared) >= 10 and multivalue, "the simulated cluster repeats _cd and sends multivalue dest"
        conn = make_connector(s, "splunk", page_size=100)
        _, report = run_inline(conn.name)
    finally:
        s.stop()
    assert report["status"] == "SUCCESS", report
    assert report["records"]["new"] == len(truth) and report["records"]["merged"] == 0
    assert report["records"]["invalid"] == 0
    rows = stored(conn.tenant_id)
    assert sorted(rows) == sorted(n["event_id"] for n in truth), "one row per notable, keyed by its event_id"
    for n in truth:
        data, raw = rows[n["event_id"]]
        assert {k: v for k, v in raw.items() if k != "_serial"} == n, "raw_data is the notable as Splunk sent it"
        dest = n["dest"][0] if isinstance(n["dest"], list) else n["dest"]
        user = n["user"][0] if isinstance(n["user"], list) else n["user"]
        assert (data["host"], data["user"], data["title"]) == (dest, user, n["rule_name"])


def test_new_notables_leave_the_others_unchanged(make_connector):
    """Results come newest first: a new notable moves every other one's `_serial` (its position in the results)."""
    s = Simulator(SimConfig(seed=12, sizes={"splunk": 60})).start()
    try:
        conn = make_connector(s, "splunk", page_size=25)
        run_inline(conn.name)
        vendor = s.vendor("splunk")
        with vendor.lock:  # a notable written after the first sync, on top of the results
            newest = max(vendor.records.values(), key=lambda n: n["_time"])
            fresh = {**newest, "event_id": "F00D@@notable@@" + "0" * 32, "_time": _splunk_time(DATA_EPOCH + 60, 0)}
            vendor.records[fresh["event_id"]] = fresh
            vendor.order.append(fresh["event_id"])
        _, again = run_inline(conn.name)
    finally:
        s.stop()
    assert again["status"] == "SUCCESS"
    assert (again["records"]["new"], again["records"]["updated"], again["records"]["unchanged"]) == (1, 0, 60)
