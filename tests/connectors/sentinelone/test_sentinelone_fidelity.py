"""Issue 11 items 6 and 7 for SentinelOne, through every pipeline stage on the real stack: a Linux agent's
loopback interface is no address of the agent (raw data keeps it), and decommissioned agents, which the agent
list leaves out unless asked, are stored as decommissioned."""
from __future__ import annotations

from typing import Iterator

import pytest

from nexus_sync.simulator import Simulator
from tests.pipeline.helpers import run_inline, small_simulator, stored

PLACEHOLDERS = {"127.0.0.1", "::1", "00:00:00:00:00:00"}


@pytest.fixture
def s1_sim() -> Iterator[Simulator]:
    with small_simulator(25, sentinelone=80) as s:
        yield s


def test_loopback_and_all_zero_addresses_are_not_identity_and_raw_data_keeps_them(s1_sim, make_connector):
    conn = make_connector(s1_sim, "sentinelone", page_size=30)
    _, report = run_inline(conn.name)
    rows = stored(conn.tenant_id)
    linux = {rid for rid, rec in s1_sim.truth("sentinelone").items() if rec["osType"] == "linux"}
    assert report["status"] == "SUCCESS" and report["records"]["invalid"] == 0 and linux
    for rid in linux:
        data, raw = rows[rid]
        served = [nic for nic in raw["networkInterfaces"] if nic["name"] == "lo"]
        assert served == [{"name": "lo", "inet": ["127.0.0.1"], "inet6": ["::1"], "physical": "00:00:00:00:00:00"}]
        assert data["ips"] == [raw["lastIpToMgmt"], raw["externalIp"]]  # the agent's own addresses only
        assert data["macs"] == [raw["networkInterfaces"][0]["physical"].replace("-", ":").lower()]
    assert not PLACEHOLDERS & {a for data, _ in rows.values() for a in data["ips"] + data["macs"]}


@pytest.mark.parametrize("incremental", [False, True], ids=["full", "incremental"])
def test_agents_decommissioned_after_the_first_sync_are_stored_decommissioned(s1_sim, make_connector, incremental):
    conn = make_connector(s1_sim, "sentinelone", page_size=30, incremental=incremental)
    run_inline(conn.name)
    earlier = {rid for rid, rec in s1_sim.truth("sentinelone").items() if rec["isDecommissioned"]}

    gone = s1_sim.vendor("sentinelone").decommission_agents(9)
    _, report = run_inline(conn.name)
    rows, truth = stored(conn.tenant_id), s1_sim.truth("sentinelone")
    assert {rid: (rows[rid][0]["state"], rows[rid][1].get("isDecommissioned")) for rid in gone} == \
        dict.fromkeys(gone, ("decommissioned", True))
    assert report["status"] == "SUCCESS" and report["records"]["updated"] == 9
    assert report["records"]["processed"] == (9 if incremental else 80)
    # the agents decommissioned before the first sync are there too (the default list hides them), and say so
    assert earlier and set(rows) == set(truth)
    assert {rid for rid, (data, _) in rows.items() if data["state"] == "decommissioned"} == earlier | set(gone)
