"""IBM QRadar offenses: SEC token, pinned Version header, Range/Content-Range paging (incl. past the end and
416), the id keyset for incremental syncs; against the simulator and with `responses`."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.machinery.paging.range_header import RangeHeaderPaging
from connectors.qradar import CONNECTOR as QRadar
from nexus_sync.errors import AuthError, RateLimited
from nexus_sync.models import Incident
from tests.connectors.simulated import sim_of
from tests.connectors.util import Sleeps, drain, make

CREDS = {"token": "sim-qradar-sec-token"}
BASE = "https://qradar.example.com"
OFFENSES = f"{BASE}/api/siem/offenses"
# the fact sheet's offense (vendor-apis-2.md §23)
FACT_OFFENSE = {"id": 4412, "description": "Excessive Firewall Denies Between Hosts\n", "status": "OPEN",
                "offense_type": 0, "offense_source": "10.20.1.7", "magnitude": 5, "severity": 5, "credibility": 2,
                "relevance": 5, "event_count": 1182, "flow_count": 0, "start_time": 1717230000000,
                "last_updated_time": 1717239000000, "last_persisted_time": 1717239060000,
                "categories": ["Access Denied", "ACL Deny"], "source_address_ids": [19],
                "local_destination_address_ids": [14], "assigned_to": None, "domain_id": 0, "follow_up": False}

sim = sim_of("qradar", seed=7)


def _conn(base: str, tmp_path, **kw):
    return make(QRadar, base, kw.pop("creds", CREDS), tmp_path, **{"page_size": 10, **kw})


def test_golden_the_fact_sheets_offense():
    data = Incident.model_validate(QRadar.normalize(FACT_OFFENSE))
    assert data.model_dump(exclude={"severity_score", "severity_label"}) == {
        "uid": "4412", "title": "Excessive Firewall Denies Between Hosts", "severity": "medium",
        "time": "2024-06-01T08:20:00Z", "status": "open", "description": "Excessive Firewall Denies Between Hosts",
        "tags": ["Access Denied", "ACL Deny"]}


def test_normalize_is_total():
    odd = {**FACT_OFFENSE, "status": "REOPENED", "severity": "x", "magnitude": 9, "categories": "Malware",
           "description": None, "start_time": None}
    data = Incident.model_validate(QRadar.normalize(odd))
    assert (data.status, data.severity, data.tags, data.title, data.time) == (
        "reopened", "critical", ["Malware"], "Offense 4412", "2024-06-01T10:50:00Z")  # last_updated_time
    assert QRadar.normalize({**FACT_OFFENSE, "severity": None, "magnitude": None})["severity"] == "medium"
    assert QRadar.normalize({**FACT_OFFENSE, "severity": 0})["severity"] == "info"
    assert QRadar.normalize({**FACT_OFFENSE, "status": None, "categories": [None, "A"]})["status"] is None


@responses.activate
def test_range_header_paging_sec_and_version_headers(tmp_path):
    responses.add(responses.GET, OFFENSES, json=[FACT_OFFENSE, dict(FACT_OFFENSE, id=4413)],
                  headers={"Content-Range": "items 0-1/3"})
    responses.add(responses.GET, OFFENSES, json=[dict(FACT_OFFENSE, id=4414)], headers={"Content-Range": "items 2-2/3"})
    conn = _conn(BASE, tmp_path, creds={"token": "t0k"}, page_size=2)
    records, pages = drain(conn)
    assert [r["id"] for r in records] == [4412, 4413, 4414] and pages == 2
    first, second = (c.request for c in responses.calls)
    assert first.headers["Range"] == "items=0-1" and second.headers["Range"] == "items=2-3"
    assert first.headers["SEC"] == "t0k" and first.headers["Version"] == "20.0"
    assert first.headers["Accept"] == "application/json"
    assert parse_qs(urlsplit(first.url).query) == {"sort": ["+id"]}  # never a Range query parameter


@responses.activate
def test_a_416_past_the_end_ends_the_listing(tmp_path):
    responses.add(responses.GET, OFFENSES, json=[FACT_OFFENSE, dict(FACT_OFFENSE, id=4413)],
                  headers={"Content-Range": "items 0-1/4"})
    responses.add(responses.GET, OFFENSES, status=416, json={"code": 1010, "message": "not satisfiable"},
                  headers={"Content-Range": "items */2"})  # the listing shrank under us
    records, pages = drain(_conn(BASE, tmp_path, page_size=2))
    assert len(records) == 2 and pages == 2


def test_content_range_reading():
    import requests

    def resp(value):
        r = requests.Response()
        r.headers["Content-Range"] = value
        return r
    from connectors.machinery.paging.range_header import content_range
    assert content_range(resp("items 0-49/1311"), "items") == (49, 1311)
    assert content_range(resp("items */1311"), "items") == (None, 1311)
    assert content_range(resp("bytes 0-1/2"), "items") == (None, None)
    assert content_range(resp("items 0-1/*"), "items") == (1, None)
    assert RangeHeaderPaging().describe().startswith("range_header")


def test_empty_one_and_many_with_page_2(sim, tmp_path):
    for size, pages in ((0, 1), (1, 1), (25, 3)):
        s = sim(size)
        records, got = drain(_conn(s.base_url("qradar"), tmp_path))
        ids = [r["id"] for r in records]
        assert set(ids) == {int(i) for i in s.truth("qradar")} and len(ids) == size and got == pages
        assert ids == sorted(ids)  # sort=+id: the keyset order
        assert s.stats("qradar")["unpinned_version"] == 0  # every request pins its Version


def test_the_simulator_serves_past_the_end_and_416_as_qradar_does(sim):
    import requests

    s = sim(3)
    url, sec = s.base_url("qradar") + "/api/siem/offenses", {"SEC": CREDS["token"], "Version": "20.0"}
    past = requests.get(url, headers={**sec, "Range": "items=5-9"}, timeout=5)
    assert (past.status_code, past.json(), past.headers["Content-Range"]) == (200, [], "items */3")
    bad = requests.get(url, headers={**sec, "Range": "items=4-1"}, timeout=5)
    assert bad.status_code == 416 and bad.headers["Content-Range"] == "items */3"
    whole = requests.get(url, headers=sec, timeout=5)
    assert len(whole.json()) == 3 and "Content-Range" not in whole.headers  # no Range: everything
    newest = requests.get(url, headers={"SEC": CREDS["token"]}, timeout=5).json()
    assert "offense_source_name" in newest[0] and "offense_source" not in newest[0]  # unpinned: fields change
    assert requests.get(url, headers={**sec, "Version": "99.0"}, timeout=5).status_code == 406


def test_wrong_token_is_an_auth_error(sim, tmp_path):
    s = sim(3)
    with pytest.raises(AuthError, match="unauthorized"):
        drain(_conn(s.base_url("qradar"), tmp_path, creds={"token": "wrong"}))


def test_429s_are_waited_out(sim, tmp_path):
    s = sim(25)
    s.set_faults("qradar", rate_limit_every=2)
    sleeps = Sleeps()
    records, _ = drain(_conn(s.base_url("qradar"), tmp_path, sleep=sleeps))
    assert len(records) == 25 and sleeps  # no rate headers: the client's own backoff


@responses.activate
def test_a_429_without_headers_past_the_inline_tries_defers(tmp_path):
    for _ in range(6):
        responses.add(responses.GET, OFFENSES, status=429, json={"code": 1011, "message": "Too Many Requests"})
    with pytest.raises(RateLimited):
        drain(_conn(BASE, tmp_path))


def test_incremental_sync_is_an_id_keyset(sim, tmp_path):
    s = sim(20)
    conn = _conn(s.base_url("qradar"), tmp_path)
    records, _ = drain(conn)
    cursor = max(conn.cursor_value(r) for r in records)
    assert drain(conn, since=cursor) == ([], 1)  # nothing newer than the last id
    ids = sorted(r["id"] for r in records)
    later, _ = drain(conn, since=str(ids[12]))
    assert [r["id"] for r in later] == ids[13:]  # filter=id > N, sort=+id
