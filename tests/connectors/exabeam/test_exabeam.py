"""Exabeam cases: the client-credentials token, time windows without a cursor (a window past the row cap split),
errors answered with HTTP 200, "Jwt is expired" 401s; against the simulator and with `responses`."""
from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
import responses

from connectors.exabeam import CONNECTOR as Exabeam
from connectors.exabeam import hooks
from nexus_sync.errors import AuthError, TransientError
from nexus_sync.models import Incident
from tests.connectors.exabeam import config
from tests.connectors.simulated import fresh_tokens, sim_of
from tests.connectors.util import Sleeps, drain, make

CREDS = {"client_id": "sim-exabeam-client", "client_secret": "sim-exabeam-secret"}
BASE = "https://api.us-west.exabeam.cloud"
SEARCH = f"{BASE}/threat-center/v1/search/cases"
# the fact sheet's case (vendor-apis-2.md §25)
FACT_CASE = {"caseId": "5b0c6b2e-...", "caseNumber": "C-1001", "alertName": "Abnormal authentication",
             "priority": "HIGH", "riskScore": 72, "stage": "NEW", "queue": "Tier 1",
             "caseCreationTimestamp": "2024-06-01T10:00:00Z", "lastModifiedTimestamp": "2024-06-01T11:00:00Z",
             "users": ["jsmith"], "srcIps": ["10.2.3.4"], "useCases": ["Compromised Credentials"]}

sim = sim_of("exabeam", seed=11)
_fresh_tokens = fresh_tokens


def _conn(base: str, tmp_path, **kw):
    return make(Exabeam, base, kw.pop("creds", CREDS), tmp_path, **{"page_size": 10, **config(None), **kw})


def _token():
    responses.add(responses.POST, f"{BASE}/auth/v1/token",
                  json={"access_token": "tok", "token_type": "Bearer", "expires_in": 3600})


def test_golden_the_fact_sheets_case():
    data = Incident.model_validate(Exabeam.normalize(FACT_CASE))
    assert data.model_dump(exclude={"severity_score", "severity_label"}) == {
        "uid": "5b0c6b2e-...", "title": "Abnormal authentication", "severity": "high",
        "time": "2024-06-01T10:00:00Z", "status": "new", "description": "Abnormal authentication",
        "tags": ["use_case:Compromised Credentials", "queue:Tier 1"]}


def test_normalize_is_total():
    odd = {**FACT_CASE, "priority": "P1", "stage": None, "useCases": "Data Leak", "queue": None, "alertName": None,
           "caseCreationTimestamp": 1717236000000}
    data = Incident.model_validate(Exabeam.normalize(odd))
    assert (data.severity, data.status, data.tags, data.title, data.time) == (
        "medium", None, ["use_case:Data Leak"], "C-1001", "2024-06-01T10:00:00Z")  # epoch ms read as well
    bare = Incident.model_validate(Exabeam.normalize({"caseId": "x", "caseCreationTimestamp": "garbage"}))
    assert (bare.title, bare.time) == ("x", "1970-01-01T00:00:00Z")


@responses.activate
def test_the_token_form_and_the_search_body(tmp_path):
    _token()
    responses.add(responses.POST, SEARCH, json={"rows": [FACT_CASE], "totalRows": 1})
    records, pages = drain(_conn(BASE, tmp_path, creds={"client_id": "cid", "client_secret": "sec"},
                                 start_time="2024-06-01T00:00:00Z", window_hours=24 * 365 * 5))
    assert [r["caseId"] for r in records] == ["5b0c6b2e-..."] and pages == 1
    grant = parse_qs(responses.calls[0].request.body)
    assert grant == {"grant_type": ["client_credentials"], "client_id": ["cid"], "client_secret": ["sec"]}
    search = json.loads(responses.calls[1].request.body)
    assert search["limit"] == 10 and search["startTime"] == "2024-06-01T00:00:00Z" and search["fields"] == ["*"]
    assert responses.calls[1].request.headers["Authorization"] == "Bearer tok"


@responses.activate
def test_an_error_in_a_200_is_retried_as_a_5xx_and_quoted(tmp_path):
    _token()
    responses.add(responses.POST, SEARCH, json={"errors": {"message": "Invalid filter: unbalanced quotes"}})
    with pytest.raises(TransientError, match="unbalanced quotes") as err:
        drain(_conn(BASE, tmp_path))
    assert "answered as 500" in str(err.value)


@responses.activate
def test_jwt_is_expired_refreshes_once(tmp_path):
    _token()
    _token()
    responses.add(responses.POST, SEARCH, status=401, body="Jwt is expired")
    responses.add(responses.POST, SEARCH, json={"rows": [FACT_CASE], "totalRows": 1})
    records, _ = drain(_conn(BASE, tmp_path, start_time="2024-06-01T00:00:00Z", window_hours=24 * 365 * 5))
    assert len(records) == 1 and sum(c.request.url.endswith("/token") for c in responses.calls) == 2


def test_empty_one_and_many_split_past_the_cap(sim, tmp_path):
    for size in (0, 1, 25):
        s = sim(size)
        records, _ = drain(_conn(s.base_url("exabeam"), tmp_path))
        ids = [r["caseId"] for r in records]
        assert sorted(ids) == sorted(s.truth("exabeam")) and len(ids) == size  # each once, none lost to the cap


def test_a_window_past_the_cap_is_split_and_read_again():
    class Conn:
        class config:
            page_size, window_hours, start_time = 2, 24, ""

        class ctx:
            name = "t"

        def __init__(self, answers):
            self.answers, self.bodies = answers, []

        def url(self, path):
            return path

        def request(self, method, url, json):
            self.bodies.append(json)
            return self.answers.pop(0)

        def decode(self, resp):
            return resp

        def records_of(self, body):
            return body["rows"]

    conn = Conn([{"rows": [1, 2], "totalRows": 3}, {"rows": [1], "totalRows": 1}])
    state = {"start": "2024-06-01T00:00:00Z", "end": "2024-06-02T00:00:00Z", "stop": "2024-06-03T00:00:00Z"}
    page = hooks.fetch_page(conn, state, None)
    assert page.records == [] and page.next == {**state, "end": "2024-06-01T12:00:00Z"}
    page = hooks.fetch_page(conn, page.next, None)
    assert page.records == [1] and page.next == {"start": "2024-06-01T12:00:00Z", "end": "2024-06-02T12:00:00Z",
                                                 "stop": "2024-06-03T00:00:00Z"}


def test_wrong_client_is_an_auth_error(sim, tmp_path):
    s = sim(3)
    with pytest.raises(AuthError):
        drain(_conn(s.base_url("exabeam"), tmp_path, creds={"client_id": "x", "client_secret": "y"}))


def test_a_token_that_dies_mid_sync_is_renewed(sim, tmp_path):
    s = sim(25)
    s.set_faults("exabeam", token_expire_after_requests=2)
    records, _ = drain(_conn(s.base_url("exabeam"), tmp_path))
    assert len(records) == 25 and s.stats("exabeam")["served_401"] >= 1


def test_a_busy_search_answered_with_200_is_retried_through_the_table(sim, tmp_path):
    s = sim(5)
    s.set_faults("exabeam", errors_in_200_every=1)
    with pytest.raises(TransientError, match="temporarily unavailable"):
        drain(_conn(s.base_url("exabeam"), tmp_path))


def test_429s_are_waited_out(sim, tmp_path):
    s = sim(25)
    s.set_faults("exabeam", rate_limit_every=2)
    sleeps = Sleeps()
    records, _ = drain(_conn(s.base_url("exabeam"), tmp_path, sleep=sleeps))
    assert len(records) == 25 and sleeps


def test_incremental_sync_starts_at_the_cursor(sim, tmp_path):
    s = sim(20)
    conn = _conn(s.base_url("exabeam"), tmp_path)
    records, _ = drain(conn)
    cursor = max(conn.cursor_value(r) for r in records)
    changed = set(s.mutate("exabeam", 0.25))
    later, _ = drain(conn, since=cursor)
    at_mark = {r["caseId"] for r in records if conn.cursor_value(r) == cursor}  # the mark's second is read again
    assert changed <= {r["caseId"] for r in later} <= changed | at_mark
