"""Issue 11 item 6 for Defender, through every pipeline stage on the real stack: the loopback addresses MDE
lists for every machine (127.0.0.1, ::1) are no address of the machine; raw data keeps what MDE sent."""
from __future__ import annotations

from typing import Iterator

import pytest

from nexus_sync.simulator import Simulator
from tests.pipeline.helpers import run_inline, small_simulator, stored


@pytest.fixture
def mde_sim() -> Iterator[Simulator]:
    with small_simulator(4, defender=30) as s:
        yield s


def test_loopback_addresses_are_not_identity_and_raw_data_keeps_them(mde_sim, make_connector):
    conn = make_connector(mde_sim, "defender", page_size=10)
    _, report = run_inline(conn.name)
    rows = stored(conn.tenant_id)
    assert report["status"] == "SUCCESS" and len(rows) == 30
    for data, raw in rows.values():
        served = {nic["ipAddress"] for nic in raw["ipAddresses"]}
        assert {"127.0.0.1", "::1"} <= served  # what MDE sent, kept
        assert not {"127.0.0.1", "::1"} & set(data["ips"])
        own = served - {"127.0.0.1", "::1"}
        assert set(data["ips"]) == {raw["lastIpAddress"], raw["lastExternalIpAddress"]} | own
