"""Jira sites on both priority schemes, through the real pipeline (issue 11, item 4): a project on the classic
scheme (Blocker, Critical, Major, Minor, Trivial) lands every issue beside one on Highest … Lowest."""
from __future__ import annotations

import sqlalchemy as sa

from nexus_sync import db
from nexus_sync.simulator import SimConfig, Simulator
from tests.pipeline.helpers import run_inline

CLASSIC = {"Blocker": "critical", "Critical": "critical", "Major": "high", "Minor": "low", "Trivial": "info"}
CURRENT = {"Highest": "critical", "High": "high", "Medium": "medium", "Low": "low", "Lowest": "info"}


def test_every_issue_of_a_classic_scheme_project_lands(make_connector):
    s = Simulator(SimConfig(seed=5, sizes={"jira": 1500})).start()
    try:
        truth = s.truth("jira")
        conn = make_connector(s, "jira", page_size=100)
        _, report = run_inline(conn.name)
    finally:
        s.stop()
    classic = [i for i in truth.values() if i["fields"]["project"]["key"] == "OPS"]
    assert len(classic) > 200 and {i["fields"]["priority"]["name"] for i in classic} == set(CLASSIC)
    assert report["status"] == "SUCCESS", report
    assert (report["records"]["new"], report["records"]["invalid"]) == (len(truth), 0)
    rd = db.raw_data.c
    with db.get_engine().connect() as c:
        rows = {r.source_id: r for r in c.execute(sa.select(rd.source_id, rd.data, rd.raw_data)
                                                  .where(rd.tenant_id == conn.tenant_id))}
    assert sorted(rows) == sorted(truth)
    for issue_id, issue in truth.items():
        name = issue["fields"]["priority"]["name"]
        assert rows[issue_id].data["severity"] == {**CLASSIC, **CURRENT}[name]
        assert rows[issue_id].raw_data["fields"]["priority"] == {"name": name}, "raw_data keeps Jira's name"
