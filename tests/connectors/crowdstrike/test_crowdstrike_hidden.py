"""Issue 11 item 7: a host hidden in Falcon (`hide_host`) leaves the host queries; its row must say so instead
of keeping the last visible state. Through every pipeline stage on the real stack, full and incremental."""
from __future__ import annotations

from typing import Iterator

import pytest

from nexus_sync.simulator import Simulator
from tests.pipeline.helpers import run_inline, small_simulator, stored


@pytest.fixture
def cs_sim() -> Iterator[Simulator]:
    with small_simulator(5, crowdstrike=60) as s:
        yield s


@pytest.mark.parametrize("incremental", [False, True], ids=["full", "incremental"])
def test_hosts_hidden_after_the_first_sync_are_stored_hidden(cs_sim, make_connector, incremental):
    conn = make_connector(cs_sim, "crowdstrike", page_size=25, incremental=incremental)
    run_inline(conn.name)
    assert {data["state"] for data, _ in stored(conn.tenant_id).values()} == {"normal"}

    hidden = cs_sim.vendor("crowdstrike").hide_hosts(7)
    _, report = run_inline(conn.name)
    rows = stored(conn.tenant_id)
    assert len(rows) == 60 and len(hidden) == 7
    assert {rid: (rows[rid][0]["state"], rows[rid][1].get("host_hidden_status")) for rid in hidden} == \
        dict.fromkeys(hidden, ("hidden", "hidden"))
    assert {rid for rid, (data, _) in rows.items() if data["state"] == "hidden"} == set(hidden)
    assert report["status"] == "SUCCESS" and report["records"]["updated"] == 7
    assert report["records"]["processed"] == (7 if incremental else 60)
