"""Okta users: unit tests with `responses` and contract tests against the simulator."""
from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
import responses
from responses import matchers

from connectors.okta import CONNECTOR as OktaUsers
from nexus_sync.errors import AuthError
from nexus_sync.models import User
from tests.connectors.util import Sleeps, drain, make

BASE = "https://acme.okta.test"
USER = {"id": "00u9xyzABCdef1234567", "status": "ACTIVE", "created": "2022-04-01T10:00:00.000Z",
        "lastLogin": "2024-06-01T07:30:12.000Z", "lastUpdated": "2024-05-20T12:00:00.000Z",
        "profile": {"login": "jdoe@example.com", "email": "JDoe@Example.com", "firstName": "Jane",
                    "lastName": "Doe"}}
GONE = dict(USER, id="00u0ffb0arded0000001", status="DEPROVISIONED", lastLogin=None)
DEPROVISIONED = 'status eq "DEPROVISIONED"'


def _users(body, *, status=200, headers=None, **query):
    """One answer of GET /api/v1/users for exactly this query (`filter=` tells the two passes apart)."""
    responses.add(responses.GET, f"{BASE}/api/v1/users", json=body, status=status, headers=headers,
                  match=[matchers.query_param_matcher(query)])


def test_normalize_user():
    data = User.model_validate(OktaUsers.normalize(USER))
    assert data.email == "jdoe@example.com" and data.full_name == "Jane Doe" and data.status == "ACTIVE"


@responses.activate
def test_link_header_paging_and_ssws_header(tmp_path):
    nxt = f"{BASE}/api/v1/users?after=00u2&limit=1"
    _users([USER], limit="1", headers={"Link": f'<{BASE}/api/v1/users?limit=1>; rel="self", <{nxt}>; rel="next"'})
    _users([dict(USER, id="00u2")], after="00u2", limit="1", headers={"Link": f'<{nxt}>; rel="self"'})
    _users([GONE], limit="1", filter=DEPROVISIONED)
    records, pages = drain(make(OktaUsers, BASE, {"token": "t0k3n"}, tmp_path, page_size=1))
    assert [r["id"] for r in records] == [USER["id"], "00u2", GONE["id"]] and pages == 3
    assert responses.calls[0].request.headers["Authorization"] == "SSWS t0k3n"
    assert responses.calls[1].request.url == nxt


@responses.activate
def test_deprovisioned_users_come_from_a_second_pass_that_keeps_the_incremental_filter(tmp_path):
    """Okta's user list leaves DEPROVISIONED users out: they are asked for by status, page by page, and an
    incremental sync asks for those changed since the cursor only."""
    since = "2024-05-20T12:00:00Z"
    changed = 'lastUpdated gt "2024-05-20T12:00:00.000Z"'
    nxt = f"{BASE}/api/v1/users?" + urlencode({"after": GONE["id"], "limit": 1,
                                                "filter": f"{DEPROVISIONED} and {changed}"})
    _users([USER], limit="1", filter=changed)
    _users([GONE], limit="1", filter=f"{DEPROVISIONED} and {changed}", headers={"Link": f'<{nxt}>; rel="next"'})
    _users([dict(GONE, id="00u2")], after=GONE["id"], limit="1", filter=f"{DEPROVISIONED} and {changed}")
    records, pages = drain(make(OktaUsers, BASE, {"token": "t"}, tmp_path, page_size=1), since=since)
    assert [(r["id"], r["status"]) for r in records] == [(USER["id"], "ACTIVE"), (GONE["id"], "DEPROVISIONED"),
                                                         ("00u2", "DEPROVISIONED")] and pages == 3
    assert User.model_validate(OktaUsers.normalize(GONE)).status == "DEPROVISIONED"


@responses.activate
def test_empty_org(tmp_path):
    _users([], limit="200")
    _users([], limit="200", filter=DEPROVISIONED)
    records, pages = drain(make(OktaUsers, BASE, {"token": "t"}, tmp_path))
    assert records == [] and pages == 2  # the listing, then the DEPROVISIONED pass


@responses.activate
def test_429_honours_x_rate_limit_reset(tmp_path):
    reset = int(time.time()) + 2
    _users({}, limit="200", status=429, headers={"X-Rate-Limit-Limit": "600", "X-Rate-Limit-Remaining": "0",
                                                 "X-Rate-Limit-Reset": str(reset)})
    _users([USER], limit="200")
    _users([], limit="200", filter=DEPROVISIONED)
    sleeps = Sleeps()
    records, _ = drain(make(OktaUsers, BASE, {"token": "t"}, tmp_path, sleep=sleeps))
    assert len(records) == 1 and len(sleeps) == 1 and 0.5 <= sleeps[0] <= 2.5


@responses.activate
def test_retry_after_zero_is_not_a_hot_loop(tmp_path):
    _users({}, limit="200", status=429, headers={"Retry-After": "0"})
    _users([USER], limit="200")
    _users([], limit="200", filter=DEPROVISIONED)
    sleeps = Sleeps()
    drain(make(OktaUsers, BASE, {"token": "t"}, tmp_path, sleep=sleeps))
    assert sleeps == [0.5]


def test_link_paging_against_simulator(sim, tmp_path):
    records, pages = drain(make(OktaUsers, sim.base_url("okta"), {"token": "sim-okta-token"}, tmp_path,
                                page_size=200))
    ids = [r["id"] for r in records]
    truth = sim.truth("okta")
    gone = {rid for rid, rec in truth.items() if rec["status"] == "DEPROVISIONED"}
    assert len(ids) == len(set(ids)) == 450 and set(ids) == set(truth) and pages == 4  # 3 pages, then the pass
    assert gone and set(ids[-len(gone):]) == gone  # the DEPROVISIONED users come last, from their own pass


def test_the_simulated_user_list_hides_deprovisioned_users_as_okta_does(sim):
    import requests

    url, auth = sim.base_url("okta") + "/api/v1/users", {"Authorization": "SSWS sim-okta-token"}
    listed = requests.get(url, params={"limit": 200}, headers=auth, timeout=5)
    filtered = requests.get(url, params={"limit": 200, "filter": 'lastUpdated gt "2000-01-01T00:00:00.000Z"'},
                            headers=auth, timeout=5)
    asked = requests.get(url, params={"limit": 200, "filter": DEPROVISIONED}, headers=auth, timeout=5)
    assert {u["status"] for u in asked.json()} == {"DEPROVISIONED"}
    assert "DEPROVISIONED" not in {u["status"] for u in listed.json() + filtered.json()}


def test_bad_token_against_simulator(sim, tmp_path):
    with pytest.raises(AuthError):
        make(OktaUsers, sim.base_url("okta"), {"token": "nope"}, tmp_path).fetch_page(None, None)


def test_simulator_429_with_okta_headers_drops_nothing(tmp_path):
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=5, sizes={"okta": 500})).start()
    try:
        s.set_faults("okta", rate_limit_every=2, retry_after_seconds=1)
        sleeps = Sleeps()
        records, _ = drain(make(OktaUsers, s.base_url("okta"), {"token": "sim-okta-token"}, tmp_path,
                                sleep=sleeps, page_size=100))
        assert {r["id"] for r in records} == set(s.truth("okta")) and sleeps
    finally:
        s.stop()
