"""The QID → CVE cache, through the pipeline on the real stack: every QID the KnowledgeBase answered is kept in
Redis for a day, per connector, so a second sync asks it only about QIDs it does not know yet."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.pipeline.helpers import raw_rows, run_inline

KB = "/api/2.0/fo/knowledge_base/vuln/"


@pytest.fixture
def qualys_sim() -> Iterator[Any]:
    from nexus_sync.simulator import SimConfig, Simulator, discover

    s = Simulator(SimConfig(seed=19, sizes={**{v: 0 for v in discover()}, "qualys": 40})).start()
    yield s
    s.stop()


def kb_calls(sim: Any) -> int:
    return sim.stats("qualys")["by_path"].get(KB, 0)


def test_a_second_sync_asks_the_knowledge_base_only_about_qids_it_does_not_know(qualys_sim, make_connector):
    from nexus_sync.redis_client import get_redis

    conn = make_connector(qualys_sim, "qualys", page_size=10)
    _, first = run_inline(conn.name)
    qids = {str(d["QID"]) for h in qualys_sim.truth("qualys").values() for d in h["DETECTION_LIST"]}
    assert first["status"] == "SUCCESS" and 1 <= kb_calls(qualys_sim) <= first["pages"]
    from connectors.qualys.knowledge_base import TTL_SECONDS

    r = get_redis()
    keys = {k.decode(): k for k in r.scan_iter(match=f"nexus:qualys-kb:{conn.name}:*")}
    assert {k.rsplit(":", 1)[1] for k in keys} == qids  # each QID once, per connector
    assert all(0 < r.ttl(k) <= TTL_SECONDS for k in keys.values())

    qualys_sim.vendor("qualys").reset_stats()
    _, second = run_inline(conn.name)
    assert kb_calls(qualys_sim) == 0  # every QID known: not one KnowledgeBase call
    assert second["records"]["unchanged"] == first["records"]["new"]

    r.delete(next(iter(keys.values())))  # one QID expired
    qualys_sim.vendor("qualys").reset_stats()
    _, third = run_inline(conn.name)
    assert kb_calls(qualys_sim) == 1 and third["records"]["unchanged"] == first["records"]["new"]
    assert len(raw_rows(conn.tenant_id)) == first["records"]["new"]
