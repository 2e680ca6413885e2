"""Elastic Security alerts: PIT + search_after paging and the ApiKey header, with `responses`."""
from __future__ import annotations

import json

import pytest
import responses

from connectors.elastic import CONNECTOR as Elastic
from nexus_sync.models import SecurityEvent
from tests.connectors.util import Sleeps, drain, make

BASE = "https://es.test:9200"
KEY = {"api_key": "aWQ6a2V5"}
HIT = {"_index": ".internal.alerts-security.alerts-default-000001", "_id": "7c1de9",
       "_source": {"@timestamp": "2024-06-01T12:34:56.789Z", "kibana.alert.uuid": "7c1de9",
                   "kibana.alert.rule.name": "Suspicious PowerShell", "kibana.alert.severity": "high",
                   "kibana.alert.risk_score": 73, "kibana.alert.workflow_status": "open",
                   "host": {"name": "ws-9"}, "user": {"name": "bob"}}, "sort": [1717245296789, 42]}


def _close(rsps, status=200):
    rsps.add(responses.DELETE, f"{BASE}/_pit", status=status, json={"succeeded": status == 200, "num_freed": 1})


def _search(rsps, hits, pit="pit-2", status=200, **kw):
    rsps.add(responses.POST, f"{BASE}/_search", status=status,
             json={"pit_id": pit, "hits": {"total": {"value": len(hits), "relation": "eq"}, "hits": hits}}, **kw)


def test_normalize_nested_and_flat_names():
    data = SecurityEvent.model_validate(Elastic.normalize(HIT))
    assert (data.uid, data.title, data.severity, data.host, data.user, data.status) == (
        "7c1de9", "Suspicious PowerShell", "high", "ws-9", "bob", "open")
    assert data.time == "2024-06-01T12:34:56.789000Z"
    flat = {**HIT, "_source": {**HIT["_source"], "host.name": "ws-1"}}
    assert Elastic.normalize(flat)["host"] == "ws-1"


def test_an_alert_without_a_rule_name_is_invalid():
    with pytest.raises(KeyError):
        Elastic.normalize({**HIT, "_source": {"@timestamp": "2024-06-01T00:00:00Z"}})


@responses.activate
def test_pit_is_opened_and_page_2_sends_search_after_with_the_newest_pit(tmp_path):
    responses.add(responses.POST, f"{BASE}/.alerts-security.alerts-default/_pit", json={"id": "pit-1"})
    _search(responses, [HIT, dict(HIT, _id="b", sort=[1717245296790, 43])], pit="pit-2")
    _search(responses, [dict(HIT, _id="c", sort=[1717245296791, 44])], pit="pit-3")
    _close(responses)
    records, pages = drain(make(Elastic, BASE, KEY, tmp_path, page_size=2), since="2024-05-01T00:00:00Z")
    assert [r["_id"] for r in records] == ["7c1de9", "b", "c"] and pages == 2
    assert "keep_alive=1m" in responses.calls[0].request.url
    first, second = (json.loads(c.request.body) for c in responses.calls[1:3])
    assert first["pit"]["id"] == "pit-1" and "search_after" not in first and first["size"] == 2
    assert first["sort"] == [{"@timestamp": "asc"}]
    assert first["query"] == {"bool": {"should": [  # created, or triaged in place, since the cursor
        {"range": {"@timestamp": {"gte": "2024-05-01T00:00:00Z"}}},
        {"range": {"kibana.alert.workflow_status_updated_at": {"gte": "2024-05-01T00:00:00Z"}}}],
        "minimum_should_match": 1}}
    assert second["pit"]["id"] == "pit-2" and second["search_after"] == [1717245296790, 43]
    close = responses.calls[3].request
    assert close.method == "DELETE" and json.loads(close.body) == {"id": "pit-2"}, "closed after the last page"
    assert all(c.request.headers["Authorization"] == "ApiKey aWQ6a2V5" for c in responses.calls)


@responses.activate
def test_es_rejected_execution_without_headers_backs_off(tmp_path):
    responses.add(responses.POST, f"{BASE}/.alerts-security.alerts-default/_pit", json={"id": "pit-1"})
    _search(responses, [], status=429)
    _search(responses, [HIT])
    _close(responses)
    sleeps = Sleeps()
    records, _ = drain(make(Elastic, BASE, KEY, tmp_path, sleep=sleeps))
    assert len(records) == 1 and len(sleeps) == 1 and sleeps[0] >= 0.5


@responses.activate
def test_a_failed_first_page_closes_the_pit_it_opened(tmp_path):
    from nexus_sync.errors import TransientError

    responses.add(responses.POST, f"{BASE}/.alerts-security.alerts-default/_pit", json={"id": "pit-1"})
    _search(responses, [], status=503)
    _close(responses)
    with pytest.raises(TransientError):
        drain(make(Elastic, BASE, KEY, tmp_path))
    assert json.loads(responses.calls[-1].request.body) == {"id": "pit-1"}


@responses.activate
def test_release_closes_the_pit_of_the_state_and_a_gone_pit_is_no_error(tmp_path):
    conn = make(Elastic, BASE, KEY, tmp_path)
    _close(responses, status=404)  # expired already: logged, not raised
    conn.release({"pit": "pit-7", "after": [1, 2]})
    conn.release(None)  # nothing to close
    assert [json.loads(c.request.body) for c in responses.calls] == [{"id": "pit-7"}]


def test_the_cursor_is_the_later_of_creation_and_the_last_status_change(tmp_path):
    conn = make(Elastic, BASE, KEY, tmp_path)
    assert conn.cursor_value(HIT) == "2024-06-01T12:34:56.789000Z"
    triaged = {**HIT, "_source": {**HIT["_source"], "kibana.alert.workflow_status": "closed",
                                  "kibana.alert.workflow_status_updated_at": "2024-06-03T08:00:00.000Z"}}
    assert conn.cursor_value(triaged) == "2024-06-03T08:00:00Z"


@pytest.mark.parametrize("source,level", [
    ({"kibana.alert.severity": "High"}, "high"),
    ({"kibana.alert.severity": "severe-ish", "kibana.alert.risk_score": 47}, "medium"),
    ({"kibana.alert.severity": None, "kibana.alert.risk_score": 80}, "critical"),
    ({"kibana.alert.risk_score": 10}, "low"),
    ({"kibana.alert.severity": "unknown", "kibana.alert.risk_score": "n/a"}, "medium"),
])
def test_an_unknown_severity_takes_the_band_of_its_risk_score(source, level):
    src = {k: v for k, v in HIT["_source"].items() if not k.startswith(("kibana.alert.severity", "kibana.alert.risk"))}
    alert = {**HIT, "_source": {**src, **source}}
    assert SecurityEvent.model_validate(Elastic.normalize(alert)).severity == level
