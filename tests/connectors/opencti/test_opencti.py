"""OpenCTI indicators: the event mapping, edges/node flattening, Relay page 2, the since filter, Bearer, 429;
through the pipeline: a score decay updates the stored vendor record."""
from __future__ import annotations

import json

import pytest
import responses

from connectors.opencti import CONNECTOR as OpenCTIIndicators
from connectors.opencti import severity
from nexus_sync.models import SecurityEvent
from tests.connectors.util import Sleeps, drain, make

BASE = "https://cti.example.test"
URL = f"{BASE}/graphql"
NODE = {"id": "5a5a5a5a-1b1b-4c4c-8d8d-9e9e9e9e9e9e", "standard_id": "indicator--0d0d0d0d-1111-4222-8333-444444444444",
        "entity_type": "Indicator", "name": "evil.example.net", "pattern": "[domain-name:value = 'evil.example.net']",
        "pattern_type": "stix", "valid_from": "2024-05-01T00:00:00.000Z", "valid_until": "2024-08-01T00:00:00.000Z",
        "x_opencti_score": 80, "confidence": 75, "revoked": False, "created_at": "2024-05-01T00:00:01.000Z",
        "updated_at": "2024-05-02T00:00:00.000Z"}


def _answer(nodes, end=None, more=False):
    return {"data": {"indicators": {"edges": [{"node": n} for n in nodes], "pageInfo": {
        "startCursor": "s", "endCursor": end, "hasNextPage": more, "hasPreviousPage": False, "globalCount": 3}}}}


def test_normalize_maps_an_indicator_to_an_event():
    data = SecurityEvent.model_validate(OpenCTIIndicators.normalize(NODE))
    assert data.uid == NODE["id"] and data.title == "evil.example.net" and data.severity == "critical"
    assert data.time == "2024-05-01T00:00:01Z" and data.status == "active"
    no_score = dict(NODE, x_opencti_score=None, name=None, revoked=True)
    data = SecurityEvent.model_validate(OpenCTIIndicators.normalize(no_score))
    assert data.severity == "high" and data.title == NODE["pattern"] and data.status == "revoked"


@pytest.mark.parametrize("score,expected", [(0, "info"), (1, "low"), (39, "low"), (40, "medium"), (60, "high"),
                                            (79, "high"), (80, "critical"), (100, "critical")])
def test_score_bands(score, expected):
    assert severity(score) == expected


@responses.activate
def test_edges_are_flattened_and_page_two_sends_after_end_cursor(tmp_path):
    responses.add(responses.POST, URL, json=_answer([NODE, dict(NODE, id="b")], end="c2", more=True))
    responses.add(responses.POST, URL, json=_answer([dict(NODE, id="c")]))
    records, pages = drain(make(OpenCTIIndicators, BASE, {"token": "t0k"}, tmp_path, page_size=2))
    assert [r["id"] for r in records] == [NODE["id"], "b", "c"] and pages == 2
    first, second = (json.loads(c.request.body) for c in responses.calls)
    assert first["variables"]["first"] == 2 and first["variables"]["after"] is None
    assert second["variables"]["after"] == "c2" and "edges { node {" in second["query"]
    assert responses.calls[0].request.headers["Authorization"] == "Bearer t0k"


@responses.activate
def test_since_becomes_a_filter_group_on_updated_at(tmp_path):
    responses.add(responses.POST, URL, json=_answer([]))
    drain(make(OpenCTIIndicators, BASE, {"token": "t"}, tmp_path), since="2024-05-02T00:00:00.000Z")
    variables = json.loads(responses.calls[0].request.body)["variables"]
    assert variables["filters"]["filters"] == [{"key": "updated_at", "values": ["2024-05-02T00:00:00Z"],
                                                "operator": "gt", "mode": "or"}]
    assert variables["orderBy"] == "created_at"


@responses.activate
def test_429_retry_after_is_waited_out(tmp_path):
    responses.add(responses.POST, URL, status=429, headers={"Retry-After": "3"}, json={"errors": []})
    responses.add(responses.POST, URL, json=_answer([NODE]))
    sleeps = Sleeps()
    records, _ = drain(make(OpenCTIIndicators, BASE, {"token": "t"}, tmp_path, sleep=sleeps))
    assert len(records) == 1 and sleeps == [3.0]


def test_an_indicator_without_created_at_is_invalid():
    with pytest.raises(KeyError):
        OpenCTIIndicators.normalize({k: v for k, v in NODE.items() if k != "created_at"})


@pytest.fixture
def opencti_sim():
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=11, sizes={"opencti": 200})).start()
    yield s
    s.stop()


@pytest.mark.parametrize("incremental", [False, True])
def test_a_score_decay_updates_the_stored_vendor_record(opencti_sim, make_connector, incremental):
    """Fidelity #10: a decayed score often stays in its severity band (nothing normalized changes); every decayed
    indicator is still UPDATED and stores the score the vendor now says, on full and incremental syncs."""
    from nexus_sync import db
    from tests.pipeline.helpers import run_inline

    conn = make_connector(opencti_sim, "opencti", page_size=50, incremental=incremental)
    run_inline(conn.name)
    before = opencti_sim.truth("opencti")
    decayed = opencti_sim.vendor("opencti").decay(0.5)
    truth = opencti_sim.truth("opencti")
    same_band = [i for i in decayed if severity(before[i]["x_opencti_score"]) == severity(truth[i]["x_opencti_score"])]
    assert same_band  # the case a hash over normalized data alone misses
    _, report = run_inline(conn.name)
    with db.get_engine().connect() as c:
        stored = {r.source_id: r.raw_data for r in c.execute(db.raw_data.select().where(
            db.raw_data.c.tenant_id == conn.tenant_id))}
    assert report["status"] == "SUCCESS" and report["records"]["updated"] == len(decayed) == 100
    assert report["records"]["unchanged"] == (0 if incremental else 100)
    assert all(stored[i]["x_opencti_score"] == truth[i]["x_opencti_score"] for i in decayed)
