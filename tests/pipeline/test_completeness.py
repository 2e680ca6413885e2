"""Completeness: each endpoint's stated total against the records it sent; a short listing ends the sync
PARTIAL with its reason, and the cursor stays where it was."""
from __future__ import annotations

import uuid

import pytest

from nexus_sync import pipeline
from tests.pipeline.helpers import cursor_of, run_inline, small_simulator

AGENTS = "/web/api/v2.1/agents"


@pytest.fixture
def s1():
    with small_simulator(31, sentinelone=500) as sim:
        yield sim


def test_report_shows_expected_and_fetched_per_endpoint(s1, make_connector):
    conn = make_connector(s1, "sentinelone", page_size=100)
    _, report = run_inline(conn.name)
    assert report["status"] == "SUCCESS" and "reason" not in report
    assert report["completeness"] == {AGENTS: {"expected": 500, "fetched": 500}}


def test_endpoint_without_a_stated_total_expects_nothing(sim, make_connector):
    conn = make_connector(sim, "okta")  # Okta states no total; its DEPROVISIONED pass is an endpoint of its own
    _, report = run_inline(conn.name)
    assert report["status"] == "SUCCESS"
    deprovisioned = sum(u["status"] == "DEPROVISIONED" for u in sim.truth("okta").values())
    assert deprovisioned and report["completeness"] == {
        "/api/v1/users": {"expected": None, "fetched": 450 - deprovisioned},
        "/api/v1/users (pass 1)": {"expected": None, "fetched": deprovisioned}}


def test_short_listing_ends_partial_with_its_reason_and_the_cursor_unmoved(s1, make_connector):
    conn = make_connector(s1, "sentinelone", page_size=100)
    run_inline(conn.name)
    before = cursor_of(conn.id)
    assert before is not None
    s1.mutate("sentinelone", 0.2)  # newer records: a cursor that would move
    s1.set_faults("sentinelone", short_listing=50)  # the total still counts the 50 left out
    _, report = run_inline(conn.name)
    assert report["status"] == "PARTIAL"
    assert report["completeness"] == {AGENTS: {"expected": 500, "fetched": 450}}
    assert report["reason"] == f"short listing: {AGENTS} sent 450 of the 500 records its total announced"
    assert report["errors"] == [] and report["pages_failed"] == 0  # no gap: only the total tells
    assert cursor_of(conn.id) == before
    s1.set_faults("sentinelone", short_listing=0)
    _, report = run_inline(conn.name)
    after = cursor_of(conn.id)
    assert report["status"] == "SUCCESS" and after is not None and after > before


def test_over_delivery_is_no_shortfall(s1, make_connector):
    """More records than the total (records added while the listing ran; here page 1 sent twice) is no
    shortfall: fetched counts every record received."""
    conn = make_connector(s1, "sentinelone", page_size=100)
    hid = str(uuid.uuid4())
    started = pipeline.start(conn.name, hid, "test")
    batch = 0
    for _ in range(2):  # page 1 of the listing, twice
        fetched = pipeline.fetch(hid, batch, None, started.since)
        batch += 1
    state = fetched.next
    while state is not None:
        state = pipeline.fetch(hid, batch, state, started.since).next
        batch += 1
    for b in range(batch):
        for stage in (pipeline.normalize, pipeline.dedup, pipeline.persist, pipeline.archive):
            stage(hid, b)
    closed = pipeline.close_sync(hid)
    assert closed is not None
    assert closed.report["completeness"] == {AGENTS: {"expected": 500, "fetched": 600}}
    assert closed.report["status"] == "SUCCESS"
