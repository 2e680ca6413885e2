"""Splunk notable events: the search job's create → poll → offset/count pages, with `responses`."""
from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import responses

from connectors.splunk import CONNECTOR as Splunk
from nexus_sync.models import SecurityEvent
from tests.connectors.util import Sleeps, drain, make

BASE = "https://splunk.test:8089"
JOBS = f"{BASE}/services/search/jobs"
EVENT = {"_time": "2024-06-01T12:00:00.000+00:00", "host": "sh-01", "source": "Threat - X - Rule",
         "sourcetype": "stash", "index": "notable", "_raw": "...", "_cd": "12:345678",
         "_bkt": "notable~12~5B0F3F1E-7A2C-4C55-9D43-2C1D6F0B9A11", "splunk_server": "idx-01",
         "rule_name": "Excessive Failed Logins", "search_name": "Threat - Excessive Failed Logins - Rule",
         "urgency": "high", "dest": "ws-9", "user": "bob", "status_label": "New",
         "event_id": "C13539923CB82248@@notable@@0d79e6b139987df082c62dee58274948"}


def _job(rsps, states, total):
    rsps.add(responses.POST, JOBS, status=201, json={"sid": "1717243200.1"})
    for state in states:
        rsps.add(responses.GET, f"{JOBS}/1717243200.1",
                 json={"entry": [{"content": {"dispatchState": state, "isDone": state == "DONE",
                                              "resultCount": total if state == "DONE" else 0}}]})


def _results(rsps, results, **kw):
    rsps.add(responses.GET, f"{JOBS}/1717243200.1/results", json={"preview": False, "init_offset": 0,
             "messages": [], "fields": [], "results": results, "highlighted": {}}, **kw)


def test_normalize_notable_event():
    data = SecurityEvent.model_validate(Splunk.normalize(EVENT))
    assert data.uid == EVENT["event_id"] and data.title == "Excessive Failed Logins"
    assert data.severity == "high" and data.time == "2024-06-01T12:00:00Z" and data.host == "ws-9"


def test_identity_is_the_event_id_else_bkt_and_cd(tmp_path):
    conn = make(Splunk, BASE, {"token": "t"}, tmp_path)
    assert conn.source_id(EVENT) == EVENT["event_id"]
    plain = {k: v for k, v in EVENT.items() if k != "event_id"}  # a search that is not over notables
    assert conn.source_id(plain) == "notable~12~5B0F3F1E-7A2C-4C55-9D43-2C1D6F0B9A11:12:345678"
    assert Splunk.normalize(plain)["uid"] == conn.source_id(plain)
    with pytest.raises(KeyError):  # no identity at all: rejected, and named in the report
        conn.source_id({k: v for k, v in plain.items() if k != "_bkt"})


def test_multivalue_fields_take_their_first_value():
    multi = {**EVENT, "dest": ["ws-9", "ws-10", "db-1"], "user": ["", "bob", "alice"], "urgency": ["critical"],
             "status_label": ["New", "In Progress"]}
    data = SecurityEvent.model_validate(Splunk.normalize(multi))
    assert (data.host, data.user, data.severity, data.status) == ("ws-9", "bob", "critical", "New")
    assert Splunk.normalize({**EVENT, "dest": [], "host": "sh-01"})["host"] == "sh-01"


@pytest.mark.parametrize("value", ["unknown", "P1", "", None])
def test_an_unknown_or_missing_urgency_is_rated_medium(value):
    assert SecurityEvent.model_validate(Splunk.normalize({**EVENT, "urgency": value})).severity == "medium"
    assert Splunk.normalize({**EVENT, "urgency": "informational"})["severity"] == "info"


def test_a_notable_without_rule_name_is_titled_by_its_search():
    assert Splunk.normalize({k: v for k, v in EVENT.items() if k != "rule_name"})["title"] == EVENT["search_name"]
    with pytest.raises(KeyError):
        Splunk.normalize({k: v for k, v in EVENT.items() if k not in ("rule_name", "search_name")})


@responses.activate
def test_job_is_created_polled_until_done_then_paged_by_offset(tmp_path):
    _job(responses, ["QUEUED", "RUNNING", "DONE"], 3)
    _results(responses, [EVENT, dict(EVENT, _cd="12:2")])
    _results(responses, [dict(EVENT, _cd="12:3")])
    sleeps = Sleeps()
    conn = make(Splunk, BASE, {"token": "t0k"}, tmp_path, sleep=sleeps, page_size=2,
                search="search index=notable urgency=high")
    waits: list[float] = []
    records, pages = drain(conn, since="2024-05-01T00:00:00Z", waits=waits)
    assert [r["_cd"] for r in records] == ["12:345678", "12:2", "12:3"] and pages == 2
    create = responses.calls[0].request
    form = parse_qs(create.body)
    assert form["search"] == ["search index=notable urgency=high"] and form["output_mode"] == ["json"]
    assert form["earliest_time"] == ["1714521600"]  # epoch seconds: valid whatever the server's time_format
    assert create.headers["Authorization"] == "Bearer t0k"
    assert waits == [1.0, 1.0] and sleeps == []  # two polls said "not yet": fetched again later, never slept
    page2 = responses.calls[-1].request.url
    assert "offset=2" in page2 and "count=2" in page2 and "output_mode=json" in page2


@responses.activate
def test_failed_job_is_a_vendor_error(tmp_path):
    from nexus_sync.errors import VendorDataError

    _job(responses, ["FAILED"], 0)
    with pytest.raises(VendorDataError):
        drain(make(Splunk, BASE, {"token": "t"}, tmp_path))


@responses.activate
def test_429_retry_after_is_waited_out(tmp_path):
    responses.add(responses.POST, JOBS, status=429, headers={"Retry-After": "2"},
                  json={"messages": [{"type": "ERROR", "text": "quota"}]})
    _job(responses, ["DONE"], 1)
    _results(responses, [EVENT])
    sleeps = Sleeps()
    records, _ = drain(make(Splunk, BASE, {"token": "t"}, tmp_path, sleep=sleeps))
    assert len(records) == 1 and sleeps == [2.0]


@responses.activate
def test_a_running_job_asks_to_be_fetched_again_with_its_sid_and_never_sleeps(tmp_path):
    _job(responses, ["RUNNING"], 0)
    sleeps = Sleeps()
    page = make(Splunk, BASE, {"token": "t"}, tmp_path, sleep=sleeps).fetch_page(None, None)
    assert page.records == [] and page.wait == 1.0 and sleeps == []
    assert page.next == {"job": "1717243200.1", "waited": 1.0}


@responses.activate
def test_a_job_past_its_budget_fails_naming_the_connector_and_the_sid(tmp_path):
    from connectors.machinery import JobFailed

    _job(responses, ["RUNNING"] * 5, 0)
    waits: list[float] = []
    with pytest.raises(JobFailed, match=r"connector 'splunk-test': search job 1717243200.1 not finished after 3s"):
        drain(make(Splunk, BASE, {"token": "t0k"}, tmp_path, job_budget_seconds=3), waits=waits)
    assert waits == [1.0, 1.0, 1.0]
