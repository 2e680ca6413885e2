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
    records, pages = drain(make(Elastic, BASE, KEY, tmp_path, page_size=2), since="2024-05-01T00:00:00Z")
    assert [r["_id"] for r in records] == ["7c1de9", "b", "c"] and pages == 2
    assert "keep_alive=1m" in responses.calls[0].request.url
    first, second = (json.loads(c.request.body) for c in responses.calls[1:3])
    assert first["pit"]["id"] == "pit-1" and "search_after" not in first and first["size"] == 2
    assert first["sort"] == [{"@timestamp": "asc"}]
    assert first["query"] == {"range": {"@timestamp": {"gte": "2024-05-01T00:00:00Z"}}}
    assert second["pit"]["id"] == "pit-2" and second["search_after"] == [1717245296790, 43]
    assert all(c.request.headers["Authorization"] == "ApiKey aWQ6a2V5" for c in responses.calls)


@responses.activate
def test_es_rejected_execution_without_headers_backs_off(tmp_path):
    responses.add(responses.POST, f"{BASE}/.alerts-security.alerts-default/_pit", json={"id": "pit-1"})
    _search(responses, [], status=429)
    _search(responses, [HIT])
    sleeps = Sleeps()
    records, _ = drain(make(Elastic, BASE, KEY, tmp_path, sleep=sleeps))
    assert len(records) == 1 and len(sleeps) == 1 and sleeps[0] >= 0.5
