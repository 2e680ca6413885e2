"""Issue 11 item 7: Okta's user list leaves DEPROVISIONED users out, so offboarded users must be asked for;
through every pipeline stage on the real stack, full and incremental."""
from __future__ import annotations

from typing import Iterator

import pytest

from nexus_sync.simulator import Simulator
from tests.pipeline.helpers import run_inline, small_simulator, stored


@pytest.fixture
def okta_sim() -> Iterator[Simulator]:
    with small_simulator(11, okta=120) as s:
        yield s


@pytest.mark.parametrize("incremental", [False, True], ids=["full", "incremental"])
def test_users_deprovisioned_after_the_first_sync_are_stored_deprovisioned(okta_sim, make_connector, incremental):
    conn = make_connector(okta_sim, "okta", page_size=50, incremental=incremental)
    run_inline(conn.name)
    earlier = {rid for rid, rec in okta_sim.truth("okta").items() if rec["status"] == "DEPROVISIONED"}

    gone = okta_sim.vendor("okta").deprovision_users(18)
    _, report = run_inline(conn.name)
    rows, truth = stored(conn.tenant_id), okta_sim.truth("okta")
    assert len(gone) == 18
    assert {rid: rows[rid][0]["status"] for rid in gone} == dict.fromkeys(gone, "DEPROVISIONED")
    assert {rid: rows[rid][1]["statusChanged"] for rid in gone} == {rid: truth[rid]["statusChanged"] for rid in gone}
    assert report["status"] == "SUCCESS" and report["records"]["updated"] == 18
    assert report["records"]["processed"] == (18 if incremental else len(truth))
    # the users offboarded before the first sync are there too, and say so
    assert earlier and set(rows) == set(truth)
    assert {rid for rid, (data, _) in rows.items() if data["status"] == "DEPROVISIONED"} == earlier | set(gone)
