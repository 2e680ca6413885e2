"""Acunetix vulnerabilities: the X-Auth key, `c`/`l` cursor paging by `pagination.next_cursor`, last_seen:desc
read to the stored high-water mark; against the simulator and with `responses`."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.acunetix import CONNECTOR as Acunetix
from nexus_sync.errors import AuthError
from nexus_sync.models import Vulnerability
from tests.connectors.simulated import sim_of
from tests.connectors.util import Sleeps, drain, make

CREDS = {"api_key": "sim-acunetix-api-key-1986ad8c0a5b3df4d7028d5f3c06e936c"}
BASE = "https://scanner.example.com:3443"
VULNS = f"{BASE}/api/v1/vulnerabilities"
# the fact sheet's finding (vendor-apis-2.md §32)
FACT_VULN = {"vuln_id": "2926553133264257008", "vt_id": "b54cfb4a-7a29-4d6e-9d1e-7c8f0b0e1a11",
             "vt_name": "SQL injection", "severity": 3, "criticality": 20, "confidence": 95, "status": "open",
             "affects_url": "https://shop.example.com/item.php", "affects_detail": "URL encoded GET input id",
             "target_id": "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9", "target_description": "shop prod",
             "first_seen": "2024-05-20T08:00:00.000000+00:00", "last_seen": "2024-06-01T08:00:00.000000+00:00",
             "tags": ["CWE-89"], "app": "wvs"}

sim = sim_of("acunetix", seed=3)


def _conn(base: str, tmp_path, **kw):
    return make(Acunetix, base, kw.pop("creds", CREDS), tmp_path, **{"page_size": 10, **kw})


def test_golden_the_fact_sheets_finding():
    data = Vulnerability.model_validate(Acunetix.normalize(FACT_VULN))
    assert data.model_dump(exclude={"severity_score", "severity_label"}) == {
        "uid": "2926553133264257008", "cve": "VT-b54cfb4a-7a29-4d6e-9d1e-7c8f0b0e1a11",
        "asset_uid": "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9", "title": "SQL injection", "severity": "high",
        "cvss": None, "status": "open", "first_seen_time": "2024-05-20T08:00:00Z",
        "last_seen_time": "2024-06-01T08:00:00Z"}


def test_normalize_is_total():
    odd = {**FACT_VULN, "severity": 4, "tags": "CVE-2021-44228", "status": ["open"], "vt_name": None,
           "cvss_score": "9.8", "target_id": None}
    data = Vulnerability.model_validate(Acunetix.normalize(odd))
    assert (data.severity, data.cve, data.status, data.title, data.cvss, data.asset_uid) == (
        "critical", "CVE-2021-44228", None, None, 9.8, "https://shop.example.com/item.php")
    for value, label in ((7, "critical"), (-1, "info"), ("x", "medium"), (None, "medium"), (True, "medium")):
        assert Acunetix.normalize({**FACT_VULN, "severity": value})["severity"] == label
    assert Acunetix.normalize({"vuln_id": 1})["cve"] == "VT-unknown"


@responses.activate
def test_x_auth_and_the_next_cursor(tmp_path):
    responses.add(responses.GET, VULNS, json={"vulnerabilities": [FACT_VULN],
                                              "pagination": {"count": 2, "next_cursor": "opaque1"}})
    responses.add(responses.GET, VULNS, json={"vulnerabilities": [dict(FACT_VULN, vuln_id="2")],
                                              "pagination": {"count": 2, "next_cursor": None}})
    records, pages = drain(_conn(BASE, tmp_path, creds={"api_key": "k3y"}, page_size=1))
    assert [r["vuln_id"] for r in records] == ["2926553133264257008", "2"] and pages == 2
    first, second = (c.request for c in responses.calls)
    assert first.headers["X-Auth"] == "k3y"
    assert parse_qs(urlsplit(first.url).query) == {"s": ["last_seen:desc"], "l": ["1"]}
    assert parse_qs(urlsplit(second.url).query) == {"s": ["last_seen:desc"], "l": ["1"], "c": ["opaque1"]}


def test_empty_one_and_many_with_page_2(sim, tmp_path):
    for size, pages in ((0, 1), (1, 1), (25, 3)):
        s = sim(size)
        records, got = drain(_conn(s.base_url("acunetix"), tmp_path))
        assert {r["vuln_id"] for r in records} == set(s.truth("acunetix")) and len(records) == size
        assert got == pages


def test_wrong_key_is_an_auth_error(sim, tmp_path):
    s = sim(3)
    with pytest.raises(AuthError, match="401"):
        drain(_conn(s.base_url("acunetix"), tmp_path, creds={"api_key": "wrong"}))


def test_429s_are_waited_out(sim, tmp_path):
    s = sim(25)
    s.set_faults("acunetix", rate_limit_every=2)
    sleeps = Sleeps()
    records, _ = drain(_conn(s.base_url("acunetix"), tmp_path, sleep=sleeps))
    assert len(records) == 25 and sleeps


def test_incremental_sync_reads_to_the_high_water_mark(sim, tmp_path):
    s = sim(30)
    conn = _conn(s.base_url("acunetix"), tmp_path)
    records, _ = drain(conn)
    cursor = max(conn.cursor_value(r) for r in records)
    changed = set(s.mutate("acunetix", 0.2))
    later, pages = drain(conn, since=cursor)
    at_mark = {r["vuln_id"] for r in records if conn.cursor_value(r) == cursor}  # the mark is inclusive
    assert {r["vuln_id"] for r in later} == changed | at_mark and pages == 1  # stops at the mark, on page 1
    assert drain(conn, since="2999-01-01T00:00:00Z") == ([], 1)
