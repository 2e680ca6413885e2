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
         "rule_name": "Excessive Failed Logins", "urgency": "high", "dest": "ws-9", "user": "bob",
         "status_label": "New"}


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
    assert data.uid == "notable:12:345678" and data.title == "Excessive Failed Logins"
    assert data.severity == "high" and data.time == "2024-06-01T12:00:00Z" and data.host == "ws-9"


def test_a_record_without_rule_name_is_invalid():
    with pytest.raises(KeyError):
        Splunk.normalize({k: v for k, v in EVENT.items() if k != "rule_name"})


@responses.activate
def test_job_is_created_polled_until_done_then_paged_by_offset(tmp_path):
    _job(responses, ["QUEUED", "RUNNING", "DONE"], 3)
    _results(responses, [EVENT, dict(EVENT, _cd="12:2")])
    _results(responses, [dict(EVENT, _cd="12:3")])
    sleeps = Sleeps()
    conn = make(Splunk, BASE, {"token": "t0k"}, tmp_path, sleep=sleeps, page_size=2,
                search="search index=notable urgency=high")
    records, pages = drain(conn, since="2024-05-01T00:00:00Z")
    assert [r["_cd"] for r in records] == ["12:345678", "12:2", "12:3"] and pages == 2
    create = responses.calls[0].request
    form = parse_qs(create.body)
    assert form["search"] == ["search index=notable urgency=high"] and form["output_mode"] == ["json"]
    assert form["earliest_time"] == ["1714521600"]  # epoch seconds: valid whatever the server's time_format
    assert create.headers["Authorization"] == "Bearer t0k"
    assert len(sleeps) == 2  # two polls said "not yet"
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
