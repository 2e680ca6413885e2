"""CrowdStrike hosts: unit tests with `responses` and contract tests against the simulator."""
from __future__ import annotations

import time

import pytest
import responses

from connectors.crowdstrike import CONNECTOR as CrowdStrikeHosts
from connectors.machinery import OAuth2ClientCredentials
from nexus_sync.errors import AuthError, RateLimited
from nexus_sync.models import Asset
from tests.connectors.util import Sleeps, drain, make

BASE = "https://api.crowdstrike.test"
CREDS = {"client_id": "cid", "client_secret": "csecret"}
HOST = {"device_id": "5f1e0c0c0c0c4c0c9c0c0c0c0c0c0c01", "cid": "aa11bb22cc33dd44ee55ff6677889900",
        "hostname": "WEB-07", "local_ip": "10.1.2.3", "external_ip": "198.51.100.4",
        "mac_address": "0a-1b-2c-3d-4e-5f", "platform_name": "Linux", "os_version": "Ubuntu 22.04",
        "agent_version": "7.10.1", "status": "normal", "first_seen": "2024-01-02T03:04:05Z",
        "last_seen": "2024-06-01T10:00:00Z", "modified_timestamp": "2024-06-01T10:00:00Z",
        "tags": ["SensorGroupingTags/prod"]}


@pytest.fixture(autouse=True)
def _fresh_tokens():
    OAuth2ClientCredentials._tokens.clear()


def _token(rsps, status=201):
    rsps.add(responses.POST, f"{BASE}/oauth2/token", status=status,
             json={"access_token": "tok", "token_type": "bearer", "expires_in": 1799})


def _ids(rsps, ids, offset, total, headers=None, status=200):
    rsps.add(responses.GET, f"{BASE}/devices/queries/devices-scroll/v1", status=status, headers=headers or {},
             json={"meta": {"pagination": {"offset": offset, "limit": 2, "total": total}},
                   "resources": ids, "errors": []})


def _hidden(rsps, ids, total, status=200):
    rsps.add(responses.GET, f"{BASE}/devices/queries/devices-hidden/v1", status=status,
             json={"meta": {"pagination": {"offset": len(ids), "limit": 2, "total": total}},
                   "resources": ids, "errors": []})


def _details(rsps, hosts):
    rsps.add(responses.POST, f"{BASE}/devices/entities/devices/v2",
             json={"meta": {}, "resources": hosts, "errors": []})


def test_normalize_maps_and_canonicalizes():
    data = Asset.model_validate(CrowdStrikeHosts.normalize(HOST))
    assert data.uid == HOST["device_id"] and data.hostname == "web-07"
    assert data.macs == ["0a:1b:2c:3d:4e:5f"] and data.ips == ["10.1.2.3", "198.51.100.4"]
    assert data.os_name == "Linux" and data.last_seen_time == "2024-06-01T10:00:00Z"


@responses.activate
def test_empty_tenant_is_one_empty_page(tmp_path):
    _token(responses)
    _ids(responses, [], None, 0)
    _hidden(responses, [], 0)
    records, pages = drain(make(CrowdStrikeHosts, BASE, CREDS, tmp_path))
    assert records == [] and pages == 2  # the host scroll, then the hidden-hosts query


@responses.activate
def test_two_pages_follow_the_scroll_token_and_send_the_bearer(tmp_path):
    _token(responses)
    _ids(responses, ["a", "b"], "tok-2", 3)
    _details(responses, [dict(HOST, device_id="a"), dict(HOST, device_id="b")])
    _ids(responses, ["c"], "tok-3", 3)
    _details(responses, [dict(HOST, device_id="c")])
    _hidden(responses, [], 0)
    records, pages = drain(make(CrowdStrikeHosts, BASE, CREDS, tmp_path, page_size=2))
    assert [r["device_id"] for r in records] == ["a", "b", "c"] and pages == 3
    second_query = [c for c in responses.calls if "scroll" in c.request.url][1]
    assert "offset=tok-2" in second_query.request.url
    assert second_query.request.headers["Authorization"] == "Bearer tok"
    from urllib.parse import parse_qs

    form = parse_qs(responses.calls[0].request.body)
    assert form["client_id"] == ["cid"] and form["client_secret"] == ["csecret"]


@responses.activate
def test_429_waits_until_the_epoch_in_x_ratelimit_retryafter(tmp_path):
    _token(responses)
    reset = int(time.time()) + 3
    _ids(responses, [], None, 0, status=429, headers={"X-Ratelimit-Retryafter": str(reset)})
    _ids(responses, ["a"], None, 1)
    _details(responses, [dict(HOST, device_id="a")])
    _hidden(responses, [], 0)
    sleeps = Sleeps()
    records, _ = drain(make(CrowdStrikeHosts, BASE, CREDS, tmp_path, sleep=sleeps))
    assert [r["device_id"] for r in records] == ["a"]
    assert len(sleeps) == 1 and 1.5 <= sleeps[0] <= 3.5


@responses.activate
def test_long_429_defers_the_task_instead_of_blocking(tmp_path):
    _token(responses)
    _ids(responses, [], None, 0, status=429, headers={"X-Ratelimit-Retryafter": str(int(time.time()) + 120)})
    with pytest.raises(RateLimited) as err:
        drain(make(CrowdStrikeHosts, BASE, CREDS, tmp_path))
    assert 100 < err.value.wait_seconds <= 120


@responses.activate
def test_401_refreshes_the_token_once_then_fails(tmp_path):
    _token(responses)
    _token(responses)
    _ids(responses, [], None, 0, status=401)
    _ids(responses, [], None, 0, status=401)
    with pytest.raises(AuthError):
        drain(make(CrowdStrikeHosts, BASE, CREDS, tmp_path))
    assert sum(1 for c in responses.calls if c.request.url.endswith("/oauth2/token")) == 2


@responses.activate
def test_bad_client_secret_is_an_auth_error_without_the_secret(tmp_path):
    _token(responses, status=401)
    with pytest.raises(AuthError) as err:
        drain(make(CrowdStrikeHosts, BASE, CREDS, tmp_path))
    assert "csecret" not in str(err.value)


# ---- against the simulator (real HTTP, vendor facts) ------------------------------------
def test_paging_covers_every_host_once(sim, tmp_path):
    conn = make(CrowdStrikeHosts, sim.base_url("crowdstrike"),
                {"client_id": "sim-client", "client_secret": "sim-secret"}, tmp_path, page_size=500)
    records, pages = drain(conn)
    ids = [r["device_id"] for r in records]
    assert len(ids) == len(set(ids)) == 1200 and set(ids) == set(sim.truth("crowdstrike")) and pages == 4


@responses.activate
def test_hidden_hosts_come_from_their_own_query_and_say_hidden(tmp_path):
    """A hidden host is out of the host scroll; the hidden-hosts query lists it, offset-paged, with the
    incremental filter, and its row's state says "hidden"."""
    gone = dict(HOST, device_id="h1", host_hidden_status="hidden")
    _token(responses)
    _ids(responses, ["a"], None, 1)
    _details(responses, [dict(HOST, device_id="a")])
    _hidden(responses, ["h1", "h2"], 3)
    _details(responses, [gone, dict(gone, device_id="h2")])
    _hidden(responses, ["h3"], 3)
    _details(responses, [dict(gone, device_id="h3")])
    conn = make(CrowdStrikeHosts, BASE, CREDS, tmp_path, page_size=2)
    records, pages = drain(conn, since="2024-06-01T00:00:00Z")
    assert [r["device_id"] for r in records] == ["a", "h1", "h2", "h3"] and pages == 3
    hidden = [c.request.url for c in responses.calls if "devices-hidden" in c.request.url]
    assert "offset=0" in hidden[0] and "offset=2" in hidden[1]
    assert all("modified_timestamp%3A%3E%272024-06-01T00%3A00%3A00Z%27" in url for url in hidden)
    assert [Asset.model_validate(conn.normalize(r)).state for r in records] == ["normal", "hidden", "hidden", "hidden"]


def test_wrong_secret_against_simulator(sim, tmp_path):
    conn = make(CrowdStrikeHosts, sim.base_url("crowdstrike"),
                {"client_id": "sim-client", "client_secret": "wrong"}, tmp_path)
    with pytest.raises(AuthError):
        conn.fetch_page(None, None)


def test_simulator_429s_are_waited_out_and_nothing_is_dropped(tmp_path):
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=3, sizes={"crowdstrike": 900})).start()
    try:
        s.set_faults("crowdstrike", rate_limit_every=2, retry_after_seconds=1)
        sleeps = Sleeps()
        conn = make(CrowdStrikeHosts, s.base_url("crowdstrike"),
                    {"client_id": "sim-client", "client_secret": "sim-secret"}, tmp_path, sleep=sleeps,
                    page_size=200)
        records, _ = drain(conn)
        assert {r["device_id"] for r in records} == set(s.truth("crowdstrike"))
        assert len(records) == 900 and sleeps and all(w >= 0.5 for w in sleeps)
    finally:
        s.stop()


def test_token_expiry_mid_sync_is_refreshed(tmp_path):
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=3, sizes={"crowdstrike": 900})).start()
    try:
        s.set_faults("crowdstrike", token_expire_after_requests=3)
        conn = make(CrowdStrikeHosts, s.base_url("crowdstrike"),
                    {"client_id": "sim-client", "client_secret": "sim-secret"}, tmp_path, page_size=100)
        records, _ = drain(conn)
        assert len({r["device_id"] for r in records}) == 900
    finally:
        s.stop()


@pytest.mark.parametrize("member_cid", ["", "child-cid-1"])
@responses.activate
def test_member_cid_goes_with_the_token_request_only_when_set(tmp_path, member_cid):
    from urllib.parse import parse_qs

    _token(responses)
    _ids(responses, [], 0, 0)
    _hidden(responses, [], 0)
    drain(make(CrowdStrikeHosts, BASE, CREDS, tmp_path, member_cid=member_cid))
    form = parse_qs(responses.calls[0].request.body)
    assert form.get("member_cid") == ([member_cid] if member_cid else None)
    assert form["grant_type"] == ["client_credentials"] and form["client_id"] == ["cid"]
