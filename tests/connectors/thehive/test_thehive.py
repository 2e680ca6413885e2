"""TheHive cases: the mapping, the query body (page window, since filter), the Bearer key, 429, bad records."""
from __future__ import annotations

import json

import responses

from connectors.thehive import CONNECTOR as TheHiveCases
from nexus_sync.models import Incident
from tests.connectors.util import Sleeps, drain, make

BASE = "https://hive.example.test:9000"
URL = f"{BASE}/api/v1/query"
CASE = {"_id": "~81920", "_type": "Case", "_createdBy": "analyst@example.org", "_createdAt": 1717236000000,
        "number": 311, "title": "Phishing - finance mailbox", "severity": 3, "severityLabel": "HIGH", "tlp": 2,
        "tlpLabel": "AMBER", "pap": 2, "papLabel": "AMBER", "status": "InProgress", "stage": "InProgress",
        "tags": ["phishing"], "assignee": "analyst@example.org", "startDate": 1717235000000, "flag": False}


def _body(call) -> list[dict]:
    return json.loads(call.request.body)["query"]


def test_normalize_maps_a_case_to_an_incident():
    data = Incident.model_validate(TheHiveCases.normalize(CASE))
    assert data.uid == "~81920" and data.severity == "high" and data.time == "2024-06-01T10:00:00Z"
    assert data.status == "InProgress" and data.tags == ["phishing"] and data.title == CASE["title"]


@responses.activate
def test_page_two_moves_the_window_inside_the_query_and_sends_the_bearer(tmp_path):
    responses.add(responses.POST, URL, json=[CASE, dict(CASE, _id="~2")])
    responses.add(responses.POST, URL, json=[dict(CASE, _id="~3")])
    records, pages = drain(make(TheHiveCases, BASE, {"token": "k3y"}, tmp_path, page_size=2))
    assert [r["_id"] for r in records] == ["~81920", "~2", "~3"] and pages == 2
    first, second = responses.calls
    assert first.request.headers["Authorization"] == "Bearer k3y" and "name=cases" in first.request.url
    assert _body(first)[0] == {"_name": "listCase"}
    assert _body(first)[-1] == {"_name": "page", "from": 0, "to": 2}
    assert _body(second)[-1] == {"_name": "page", "from": 2, "to": 4}


@responses.activate
def test_since_filters_on_updated_or_created(tmp_path):
    responses.add(responses.POST, URL, json=[])
    drain(make(TheHiveCases, BASE, {"token": "k"}, tmp_path), since="1717236000000")
    flt = _body(responses.calls[0])[1]
    assert flt == {"_name": "filter", "_or": [{"_gt": {"_field": "_updatedAt", "_value": 1717236000000}},
                                              {"_gt": {"_field": "_createdAt", "_value": 1717236000000}}]}


@responses.activate
def test_429_retry_after_is_waited_out(tmp_path):
    responses.add(responses.POST, URL, status=429, headers={"Retry-After": "2"},
                  json={"type": "TooManyRequests", "message": "slow down"})
    responses.add(responses.POST, URL, json=[CASE])
    sleeps = Sleeps()
    records, _ = drain(make(TheHiveCases, BASE, {"token": "k"}, tmp_path, sleep=sleeps))
    assert [r["_id"] for r in records] == ["~81920"] and sleeps == [2.0]


def test_a_case_without_title_is_invalid():
    bad = {k: v for k, v in CASE.items() if k != "title"}
    try:
        Incident.model_validate(TheHiveCases.normalize(bad))
    except KeyError as exc:
        assert exc.args[0] == "title"
    else:
        raise AssertionError("a case without a title must be invalid")


def test_an_unknown_severity_takes_its_label_else_medium():
    def level(**case):
        return Incident.model_validate(TheHiveCases.normalize({**CASE, **case})).severity

    assert level(severity=4) == "critical" and level(severity=1, severityLabel="LOW") == "low"
    assert level(severity=0, severityLabel="CRITICAL") == "critical"  # outside 1-4: the label decides
    assert level(severity=7, severityLabel="SEVERE+") == "medium"  # neither reads: TheHive's default
    assert level(severity=None, severityLabel=None) == "medium"
