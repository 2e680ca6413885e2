"""Issue 11 items 7 and 8 for Entra ID, through every pipeline stage on the real stack: deleted users are
stored as deleted; incremental syncs follow Graph's delta query with its delta link as the cursor; Graph's
"start over" answers (a dead delta link, an expired page token) restart instead of failing the sync."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from connectors import cursors
from nexus_sync.simulator import Simulator
from tests.pipeline.helpers import cursor_of, run_inline, small_simulator, stored


@pytest.fixture
def graph() -> Iterator[Simulator]:
    with small_simulator(7, entra=40) as s:
        s.set_faults("entra", delta_page_size=15)
        yield s


def requests_to(sim: Simulator, path: str) -> int:
    return sim.stats("entra")["by_path"].get(path, 0)


def first_sync(sim: Simulator, make_connector: Any) -> Any:
    conn = make_connector(sim, "entra", page_size=10, incremental=True)
    _, report = run_inline(conn.name)
    assert report["status"] == "SUCCESS", report
    return conn


def test_a_full_sync_stores_deleted_users_and_saves_the_delta_link(graph, make_connector):
    conn = first_sync(graph, make_connector)
    truth = graph.truth("entra")
    rows = stored(conn.tenant_id)
    deleted = {rid for rid, rec in truth.items() if rec.get("deletedDateTime")}
    assert set(rows) == set(truth) and deleted  # the recycle bin too, which /users leaves out
    assert {rid for rid, (data, _) in rows.items() if data["status"] == "deleted"} == deleted
    saved = cursor_of(conn.id)
    assert cursors.token_of(saved).startswith(graph.base_url("entra") + "/v1.0/users/delta?$deltatoken=")


def test_an_incremental_sync_sees_changed_and_deleted_users_through_the_delta_link(graph, make_connector):
    conn = first_sync(graph, make_connector)
    saved, listed = cursor_of(conn.id), requests_to(graph, "/v1.0/users")
    changed = set(graph.mutate("entra", 0.1))
    gone = set(graph.vendor("entra").delete_users(3))
    _, report = run_inline(conn.name)
    rows, truth = stored(conn.tenant_id), graph.truth("entra")
    assert report["status"] == "SUCCESS" and report["records"]["invalid"] == 0
    assert report["records"]["processed"] == report["records"]["updated"] == len(changed | gone)
    assert requests_to(graph, "/v1.0/users") == listed  # no listing: the delta round only
    for rid in changed - gone:
        assert rows[rid][1]["jobTitle"] == truth[rid]["jobTitle"]
    assert {rid: rows[rid][0]["status"] for rid in gone} == dict.fromkeys(gone, "deleted")
    assert cursor_of(conn.id) > saved  # the newer delta link replaced the older


@pytest.mark.parametrize("answer", ["410 resyncRequired", "400 syncStateNotFound"])
def test_a_dead_delta_link_runs_a_full_listing_instead_of_failing(graph, make_connector, answer):
    conn = first_sync(graph, make_connector)
    saved, listed = cursor_of(conn.id), requests_to(graph, "/v1.0/users")
    graph.set_faults("entra", **({"resync_required": 1} if answer.startswith("410")
                                 else {"delta_token_ttl_seconds": 0.000001}))
    changed = set(graph.mutate("entra", 0.1))
    _, report = run_inline(conn.name)
    assert report["status"] == "SUCCESS", report
    assert report["records"]["processed"] == 40 and report["records"]["updated"] == len(changed)
    assert requests_to(graph, "/v1.0/users") > listed
    assert set(stored(conn.tenant_id)) == set(graph.truth("entra"))
    assert cursor_of(conn.id) > saved and cursors.token_of(cursor_of(conn.id)) != cursors.token_of(saved)


def test_an_expired_page_token_mid_listing_restarts_the_listing_and_loses_nobody(graph, make_connector):
    graph.set_faults("entra", expire_next_page_tokens=1)
    conn = make_connector(graph, "entra", page_size=10)
    _, report = run_inline(conn.name)
    assert graph.stats("entra")["faults"]["page_token_expired"] == 1
    assert report["status"] == "SUCCESS" and report["errors"] == []
    assert set(stored(conn.tenant_id)) == set(graph.truth("entra"))
