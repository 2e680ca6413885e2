"""Okta users: unit tests with `responses` and contract tests against the simulator."""
from __future__ import annotations

import time

import pytest
import responses

from connectors.okta import CONNECTOR as OktaUsers
from nexus_sync.errors import AuthError
from nexus_sync.models import User
from tests.connectors.util import Sleeps, drain, make

BASE = "https://acme.okta.test"
USER = {"id": "00u9xyzABCdef1234567", "status": "ACTIVE", "created": "2022-04-01T10:00:00.000Z",
        "lastLogin": "2024-06-01T07:30:12.000Z", "lastUpdated": "2024-05-20T12:00:00.000Z",
        "profile": {"login": "jdoe@example.com", "email": "JDoe@Example.com", "firstName": "Jane",
                    "lastName": "Doe"}}


def test_normalize_user():
    data = User.model_validate(OktaUsers.normalize(USER))
    assert data.email == "jdoe@example.com" and data.full_name == "Jane Doe" and data.status == "ACTIVE"


@responses.activate
def test_link_header_paging_and_ssws_header(tmp_path):
    nxt = f"{BASE}/api/v1/users?after=00u2&limit=1"
    responses.add(responses.GET, f"{BASE}/api/v1/users", json=[USER],
                  headers={"Link": f'<{BASE}/api/v1/users?limit=1>; rel="self", <{nxt}>; rel="next"'})
    responses.add(responses.GET, nxt, json=[dict(USER, id="00u2")],
                  headers={"Link": f'<{nxt}>; rel="self"'})
    records, pages = drain(make(OktaUsers, BASE, {"token": "t0k3n"}, tmp_path, page_size=1))
    assert [r["id"] for r in records] == [USER["id"], "00u2"] and pages == 2
    assert responses.calls[0].request.headers["Authorization"] == "SSWS t0k3n"
    assert responses.calls[1].request.url == nxt


@responses.activate
def test_empty_org(tmp_path):
    responses.add(responses.GET, f"{BASE}/api/v1/users", json=[])
    records, pages = drain(make(OktaUsers, BASE, {"token": "t"}, tmp_path))
    assert records == [] and pages == 1


@responses.activate
def test_429_honours_x_rate_limit_reset(tmp_path):
    reset = int(time.time()) + 2
    responses.add(responses.GET, f"{BASE}/api/v1/users", status=429,
                  headers={"X-Rate-Limit-Limit": "600", "X-Rate-Limit-Remaining": "0",
                           "X-Rate-Limit-Reset": str(reset)})
    responses.add(responses.GET, f"{BASE}/api/v1/users", json=[USER])
    sleeps = Sleeps()
    records, _ = drain(make(OktaUsers, BASE, {"token": "t"}, tmp_path, sleep=sleeps))
    assert len(records) == 1 and len(sleeps) == 1 and 0.5 <= sleeps[0] <= 2.5


@responses.activate
def test_retry_after_zero_is_not_a_hot_loop(tmp_path):
    responses.add(responses.GET, f"{BASE}/api/v1/users", status=429, headers={"Retry-After": "0"})
    responses.add(responses.GET, f"{BASE}/api/v1/users", json=[USER])
    sleeps = Sleeps()
    drain(make(OktaUsers, BASE, {"token": "t"}, tmp_path, sleep=sleeps))
    assert sleeps == [0.5]


def test_link_paging_against_simulator(sim, tmp_path):
    records, pages = drain(make(OktaUsers, sim.base_url("okta"), {"token": "sim-okta-token"}, tmp_path,
                                page_size=200))
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) == 450 and set(ids) == set(sim.truth("okta")) and pages == 3


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
