"""Acunetix targets as assets: the X-Auth key, `c`/`l` cursor paging, full syncs only (no modification time);
against the simulator and with `responses`."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.acunetix_targets import CONNECTOR as Targets
from nexus_sync.errors import AuthError
from nexus_sync.models import Asset
from tests.connectors.simulated import sim_of
from tests.connectors.util import Sleeps, drain, make

CREDS = {"api_key": "sim-acunetix-api-key-1986ad8c0a5b3df4d7028d5f3c06e936c"}
BASE = "https://scanner.example.com:3443"
TARGETS = f"{BASE}/api/v1/targets"
# the target of the fact sheet's finding (vendor-apis-2.md §32: target_id, target_description, affects_url),
# in the target record's shape
FACT_TARGET = {"target_id": "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9", "address": "https://shop.example.com/",
               "description": "shop prod", "criticality": 20, "type": "default", "continuous_mode": False,
               "manual_intervention": False, "verification": None,
               "last_scan_date": "2024-06-01T08:00:00.000000+00:00", "last_scan_session_status": "completed",
               "severity_counts": {"high": 1, "medium": 0, "low": 2, "info": 5}, "threat": 3}

sim = sim_of("acunetix_targets", seed=4)


def _conn(base: str, tmp_path, **kw):
    return make(Targets, base, kw.pop("creds", CREDS), tmp_path, **{"page_size": 10, **kw})


def test_golden_the_fact_sheets_target():
    data = Asset.model_validate(Targets.normalize(FACT_TARGET))
    got = data.model_dump(exclude={"severity_score", "severity_label"})
    assert {k: got[k] for k in ("uid", "hostname", "name", "type", "state", "tags", "last_seen_time")} == {
        "uid": "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9", "hostname": "shop.example.com", "name": "shop prod",
        "type": "web_application", "state": "completed", "tags": ["criticality:high", "target_type:default"],
        "last_seen_time": "2024-06-01T08:00:00Z"}
    assert Targets.cursor_field is None  # no modification time: full syncs


def test_normalize_is_total():
    odd = {"target_id": "t1", "address": "intranet.example.com:8443", "description": "", "criticality": 99,
           "type": None, "last_scan_date": None, "last_scan_session_status": None}
    data = Asset.model_validate(Targets.normalize(odd))
    assert (data.hostname, data.name, data.tags, data.last_seen_time, data.state) == (
        "intranet.example.com", "intranet.example.com:8443", ["criticality:99"], None, None)
    bare = Asset.model_validate(Targets.normalize({"target_id": "t2", "address": ["x"], "criticality": "high",
                                                   "last_scan_date": "not a time"}))
    assert (bare.hostname, bare.name, bare.tags, bare.last_seen_time) == (None, None, [], None)


@responses.activate
def test_x_auth_and_the_next_cursor(tmp_path):
    responses.add(responses.GET, TARGETS, json={"targets": [FACT_TARGET], "pagination": {"next_cursor": "n1"}})
    responses.add(responses.GET, TARGETS, json={"targets": [dict(FACT_TARGET, target_id="t2")],
                                                "pagination": {"next_cursor": None}})
    records, pages = drain(_conn(BASE, tmp_path, creds={"api_key": "k"}, page_size=1))
    assert [r["target_id"] for r in records] == [FACT_TARGET["target_id"], "t2"] and pages == 2
    assert responses.calls[0].request.headers["X-Auth"] == "k"
    assert parse_qs(urlsplit(responses.calls[1].request.url).query) == {"l": ["1"], "c": ["n1"]}


def test_empty_one_and_many_with_page_2(sim, tmp_path):
    for size, pages in ((0, 1), (1, 1), (25, 3)):
        s = sim(size)
        records, got = drain(_conn(s.base_url("acunetix_targets"), tmp_path))
        assert {r["target_id"] for r in records} == set(s.truth("acunetix_targets")) and got == pages


def test_wrong_key_is_an_auth_error(sim, tmp_path):
    s = sim(3)
    with pytest.raises(AuthError, match="401"):
        drain(_conn(s.base_url("acunetix_targets"), tmp_path, creds={"api_key": "wrong"}))


def test_429s_are_waited_out(sim, tmp_path):
    s = sim(25)
    s.set_faults("acunetix_targets", rate_limit_every=2)
    sleeps = Sleeps()
    records, _ = drain(_conn(s.base_url("acunetix_targets"), tmp_path, sleep=sleeps))
    assert len(records) == 25 and sleeps


def test_every_sync_is_full(sim, tmp_path):
    s = sim(12)
    conn = _conn(s.base_url("acunetix_targets"), tmp_path)
    first, _ = drain(conn)
    s.mutate("acunetix_targets", 0.5)
    again, _ = drain(conn, since=None)
    assert {r["target_id"] for r in again} == {r["target_id"] for r in first}
    assert again != first  # the changed scan dates come with the next full listing
