"""Issue 11 item 6 for Defender, through every pipeline stage on the real stack: the loopback addresses MDE
lists for every machine (127.0.0.1, ::1) are no address of the machine; raw data keeps what MDE sent."""
from __future__ import annotations

import uuid
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

from nexus_sync import db
from nexus_sync.simulator import SimConfig, Simulator
from tests.pipeline.helpers import run_inline


@pytest.fixture
def mde_sim() -> Iterator[Simulator]:
    s = Simulator(SimConfig(seed=4, sizes={"defender": 30})).start()
    yield s
    s.stop()


def stored(tenant: uuid.UUID) -> dict[str, Any]:
    """source id → (normalized data, the vendor record as stored)."""
    rd = db.raw_data.c
    with db.get_engine().connect() as c:
        return {r.source_id: (r.data, r.raw_data)
                for r in c.execute(sa.select(rd.source_id, rd.data, rd.raw_data).where(rd.tenant_id == tenant))}


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
