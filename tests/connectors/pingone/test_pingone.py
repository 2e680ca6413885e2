"""PingOne users: the region's auth host, `_links.next.href` paging with pages smaller than asked, the
fact sheet's user, a 429 without Retry-After; against the simulator and with `responses`."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.pingone import CONNECTOR as PingOne
from connectors.pingone.simulator import ENVIRONMENT
from nexus_sync.errors import ConfigError, ForeignOriginError
from nexus_sync.models import User
from nexus_sync.simulator import Simulator
from tests.connectors.simulated import fresh_tokens, sim_of
from tests.connectors.util import Sleeps, drain, make

CREDS = {"client_id": "sim-pingone-worker", "client_secret": "sim-pingone-secret"}
ENV = "abfba8f6-0000-4000-8000-000000000001"
API = "https://api.pingone.eu"
USERS = f"{API}/v1/environments/{ENV}/users"
# the fact sheet's user (vendor-apis-2.md §34)
FACT_USER = {"id": "8376797d-641c-4e7b-8bc1-2fdf71916cab", "username": "jdoe", "email": "jdoe@example.com",
             "name": {"given": "Jane", "family": "Doe"}, "enabled": True, "lifecycle": {"status": "ACCOUNT_OK"},
             "population": {"id": "60971d3b-cc5a-4601-9c44-2be541f91bf1"}, "createdAt": "2023-02-01T10:00:00.000Z",
             "updatedAt": "2024-06-01T09:00:00.000Z",
             "lastSignOn": {"at": "2024-06-01T08:59:00.000Z", "remoteIp": "198.51.100.3"}}


sim = sim_of("pingone", seed=7)
_fresh_tokens = fresh_tokens


def _sim_connector(s: Simulator, tmp_path, creds=CREDS, **kw):
    base = s.base_url("pingone")
    return make(PingOne, base, creds, tmp_path, environment_id=ENVIRONMENT, token_url=f"{base}/{ENVIRONMENT}/as/token",
                **kw)


def test_golden_the_fact_sheets_user():
    data = User.model_validate(PingOne.normalize(FACT_USER))
    assert data.model_dump(exclude={"severity_score", "severity_label"}) == {
        "uid": "8376797d-641c-4e7b-8bc1-2fdf71916cab", "email": "jdoe@example.com", "username": "jdoe",
        "full_name": "Jane Doe", "status": "account_ok", "mfa": None, "created_time": "2023-02-01T10:00:00Z",
        "last_login_time": "2024-06-01T08:59:00Z", "modified_time": "2024-06-01T09:00:00Z", "groups": []}


def test_normalize_is_total():
    bare = {"id": "u-1", "username": "ops@example.com", "name": None, "lastSignOn": "never", "enabled": False,
            "lifecycle": "odd", "mfaEnabled": "yes"}
    data = User.model_validate(PingOne.normalize(bare))
    assert (data.email, data.full_name, data.status, data.mfa, data.last_login_time) == (
        "ops@example.com", None, "disabled", None, None)
    locked = PingOne.normalize({**FACT_USER, "account": {"status": "LOCKED"}})
    assert locked["status"] == "locked"
    assert PingOne.normalize({**FACT_USER, "lifecycle": {"status": "SOMETHING_NEW"}})["status"] == "something_new"
    with pytest.raises(KeyError):  # no identity: rejected
        PingOne.normalize({"username": "x@example.com"})


@responses.activate
def test_the_regions_auth_host_and_absolute_next_links(tmp_path):
    responses.add(responses.POST, f"https://auth.pingone.eu/{ENV}/as/token",
                  json={"access_token": "at", "token_type": "Bearer", "expires_in": 3600})
    nxt = f"{USERS}?cursor=eyJ2IjoxLCJrIjoyfQ&limit=2"
    responses.add(responses.GET, USERS, json={"_links": {"self": {"href": USERS}, "next": {"href": nxt}},
                                              "_embedded": {"users": [FACT_USER]}, "count": 2, "size": 1})
    responses.add(responses.GET, nxt, json={"_links": {"self": {"href": nxt}},
                                            "_embedded": {"users": [dict(FACT_USER, id="u-2")]}, "count": 2, "size": 1})
    conn = make(PingOne, API, {"client_id": "w", "client_secret": "s"}, tmp_path, environment_id=ENV, region="eu",
                page_size=2)
    records, pages = drain(conn)
    assert [r["id"] for r in records] == [FACT_USER["id"], "u-2"] and pages == 2
    form = parse_qs(responses.calls[0].request.body)
    assert form["grant_type"] == ["client_credentials"] and form["client_id"] == ["w"]
    assert parse_qs(urlsplit(responses.calls[1].request.url).query) == {"limit": ["2"]}
    assert responses.calls[2].request.url == nxt  # the link as given, not rebuilt
    assert responses.calls[2].request.headers["Authorization"] == "Bearer at"  # the same token


@responses.activate
def test_a_next_link_to_another_host_is_refused(tmp_path):
    responses.add(responses.POST, f"https://auth.pingone.com/{ENV}/as/token", json={"access_token": "at"})
    responses.add(responses.GET, f"https://api.pingone.com/v1/environments/{ENV}/users", json={
        "_links": {"next": {"href": "https://evil.example/v1/users?cursor=x"}}, "_embedded": {"users": [FACT_USER]}})
    conn = make(PingOne, "https://api.pingone.com", {"client_id": "w", "client_secret": "s"}, tmp_path,
                environment_id=ENV)
    with pytest.raises(ForeignOriginError):
        drain(conn)


@pytest.mark.parametrize("config,what", [({"region": "eu"}, "not in region 'eu'"),
                                         ({"region": "mars"}, "not one of"),
                                         ({"environment_id": "../other"}, "environment_id")])
def test_region_and_environment_are_checked_before_any_request(tmp_path, config, what):
    with pytest.raises(ConfigError, match=what):
        make(PingOne, "https://api.pingone.com", CREDS, tmp_path, **{"environment_id": ENV, **config})


def test_pages_smaller_than_asked_still_reach_every_user(sim, tmp_path):
    s = sim(25)
    s.set_faults("pingone", page_cap=3)  # asked for 10, served 3: only the next link says there is more
    conn = _sim_connector(s, tmp_path, page_size=10)
    records, pages = drain(conn)
    assert {r["id"] for r in records} == set(s.truth("pingone")) and pages == 9


def test_empty_one_and_many(sim, tmp_path):
    for size, pages in ((0, 1), (1, 1), (25, 3)):
        s = sim(size)
        records, got = drain(_sim_connector(s, tmp_path, page_size=10))
        assert len(records) == size and got == pages


def test_a_token_from_another_regions_environment_is_a_config_error(sim, tmp_path):
    s = sim(3)
    other = "00000000-0000-4000-8000-000000000000"
    conn = make(PingOne, s.base_url("pingone"), CREDS, tmp_path, environment_id=other,
                token_url=f"{s.base_url('pingone')}/{other}/as/token")
    with pytest.raises(ConfigError):
        drain(conn)


def test_429_without_retry_after_is_backed_off_and_drops_nothing(sim, tmp_path):
    s = sim(25)
    s.set_faults("pingone", rate_limit_every=2)
    sleeps = Sleeps()
    records, _ = drain(_sim_connector(s, tmp_path, page_size=10, sleep=sleeps))
    assert len(records) == 25 and sleeps and all(w >= 0.5 for w in sleeps)


def test_an_incremental_sync_is_a_full_sweep_and_the_cursor_is_updated_at(sim, tmp_path):
    s = sim(5)
    conn = _sim_connector(s, tmp_path, page_size=10, incremental=True)
    records, _ = drain(conn, since="2024-05-01T00:00:00Z")  # no documented updatedAt filter on /users
    assert len(records) == 5
    latest = max(conn.cursor_value(r) for r in records)
    assert latest == conn.canonical_cursor(max(r["updatedAt"] for r in records))
    # (the simulator answers a `filter` on /users with 400: none was sent)
