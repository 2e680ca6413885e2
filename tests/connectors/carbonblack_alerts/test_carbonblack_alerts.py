"""Carbon Black Cloud alerts v7: one time_range per sync (from the cursor or start_time, ending 60 s before
now) kept across its pages, `start` (from 1) / `rows`, sorted by backend_update_timestamp; v6 names as a
fallback; against the simulator and with `responses`."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import responses

from connectors.carbonblack_alerts import CONNECTOR as Alerts
from connectors.carbonblack_alerts import hooks
from connectors.machinery.times import iso_ms
from nexus_sync.errors import AuthError
from nexus_sync.models import SecurityEvent
from tests.connectors.simulated import sim_of
from tests.connectors.util import Sleeps, drain, make

CREDS = {"api_secret_key": "SIMSECRETKEY0123456789AB", "api_id": "SIMAPIID01"}
ORG = "7DESJ9GN"
BASE = "https://defense-xx.conferdeploy.net"
URL = f"{BASE}/api/alerts/v7/orgs/{ORG}/alerts/_search"
VENDOR = "carbonblack_alerts"
START = "2024-04-30T00:00:00Z"
# a v7 alert with the fields the fact sheet names (vendor-apis-2.md §20; its values made up)
FACT = {"id": "6f1d2a7c-7e0b-4c11-9d0c-3b1f0c2a9e55", "type": "CB_ANALYTICS", "org_key": ORG, "severity": 7,
        "reason": "The application powershell.exe invoked another application (cmd.exe).",
        "backend_timestamp": "2024-06-01T10:00:01.234Z", "backend_update_timestamp": "2024-06-01T11:00:00.000Z",
        "detection_timestamp": "2024-06-01T09:59:58.000Z", "device_id": 4455667, "device_name": "CORP\\ws-101",
        "device_username": "CORP\\jdoe", "workflow": {"status": "IN_PROGRESS", "changed_by_type": "API"}}


def _body(request: Any) -> Any:
    """The JSON body a recorded request sent."""
    return json.loads(request.body or b"null")


sim = sim_of(VENDOR, seed=6)


def _sim_conn(s, tmp_path, creds=CREDS, **kw):
    return make(Alerts, s.base_url(VENDOR), creds, tmp_path,
                **{"page_size": 10, "org_key": ORG, "start_time": START, **kw})


def test_golden_a_v7_alert():
    data = SecurityEvent.model_validate(Alerts.normalize(FACT))
    assert data.model_dump(include={"uid", "title", "severity", "time", "host", "user", "status"}) == {
        "uid": "6f1d2a7c-7e0b-4c11-9d0c-3b1f0c2a9e55",
        "title": "The application powershell.exe invoked another application (cmd.exe).", "severity": "high",
        "time": "2024-06-01T09:59:58Z", "host": "CORP\\ws-101", "user": "CORP\\jdoe", "status": "in_progress"}


def test_normalize_is_total_and_reads_v6_names():
    v6 = {"id": "a1", "severity": "x", "create_time": "2024-06-01T10:00:00.000Z", "workflow": {"state": "DISMISSED"},
          "type": "WATCHLIST", "detection_timestamp": "not a time"}
    data = SecurityEvent.model_validate(Alerts.normalize(v6))
    assert (data.title, data.severity, data.time, data.status) == ("WATCHLIST", "info", "2024-06-01T10:00:00Z",
                                                                  "dismissed")
    assert Alerts.normalize({"id": 1, "backend_update_timestamp": "2024-06-01T00:00:00Z", "workflow": []})[
        "title"] == "Carbon Black alert 1"
    with pytest.raises(KeyError):
        Alerts.normalize({"id": "a2"})


def test_the_range_ends_a_minute_before_now_and_is_empty_for_a_fresh_cursor(tmp_path):
    conn = make(Alerts, BASE, CREDS, tmp_path, org_key=ORG)
    now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert hooks.time_range(conn, "2025-12-31T12:00:00Z", now) == {"start": "2025-12-31T12:00:00.000Z",
                                                                   "end": "2026-01-01T11:59:00.000Z"}
    assert (hooks.time_range(conn, None, now) or {}).get("start") == iso_ms(now - timedelta(days=30))
    assert hooks.time_range(conn, "2026-01-01T11:59:30Z", now) is None


@responses.activate
def test_pages_keep_the_range_and_count_start_from_1(tmp_path):
    responses.add(responses.POST, URL, json={"results": [FACT, {**FACT, "id": "b"}], "num_found": 3})
    responses.add(responses.POST, URL, json={"results": [{**FACT, "id": "c"}], "num_found": 3})
    records, pages = drain(make(Alerts, BASE, CREDS, tmp_path, page_size=2, org_key=ORG, start_time=START))
    assert len(records) == 3 and pages == 2
    first, second = (_body(c.request) for c in responses.calls)
    assert responses.calls[0].request.headers["X-Auth-Token"] == "SIMSECRETKEY0123456789AB/SIMAPIID01"
    assert first["time_range"] == second["time_range"] and first["time_range"]["start"] == "2024-04-30T00:00:00.000Z"
    assert (first["start"], first["rows"], second["start"]) == (1, 2, 3)
    assert first["sort"] == [{"field": "backend_update_timestamp", "order": "ASC"}]


def test_empty_one_and_many_with_page_2(sim, tmp_path):
    for size, pages in ((0, 1), (1, 1), (25, 3)):
        s = sim(size)
        records, got = drain(_sim_conn(s, tmp_path))
        assert {r["id"] for r in records} == set(s.truth(VENDOR)) and got == pages


def test_a_wrong_token_is_an_auth_error(sim, tmp_path):
    with pytest.raises(AuthError):
        drain(_sim_conn(sim(3), tmp_path, creds={**CREDS, "api_secret_key": "short"}))


def test_a_bare_429_is_waited_out(sim, tmp_path):
    s = sim(25)
    s.set_faults(VENDOR, rate_limit_every=2)
    sleeps = Sleeps()
    records, _ = drain(_sim_conn(s, tmp_path, sleep=sleeps))
    assert len(records) == 25 and sleeps and all(w >= 0.5 for w in sleeps)


def test_incremental_sync_rereads_updated_alerts(sim, tmp_path):
    s = sim(20)
    conn = _sim_conn(s, tmp_path)
    records, _ = drain(conn)
    cursor = max(conn.cursor_value(r) for r in records)
    changed = s.mutate(VENDOR, 0.25)
    later, _ = drain(conn, since=cursor)
    assert {r["id"] for r in later} == set(changed) | {r["id"] for r in records if conn.cursor_value(r) == cursor}
    assert all(r["workflow"]["changed_by_type"] == "API" for r in later if r["id"] in changed)
