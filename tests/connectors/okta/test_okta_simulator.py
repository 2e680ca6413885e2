"""The Okta simulator over real HTTP (connectors/okta/simulator.py): vendor facts (../shared/vendor-apis.md §5),
Link-header paging with filters, SSWS auth and single users."""
from __future__ import annotations

import re
from typing import Iterator

import pytest
import requests

from connectors.okta.simulator import OKTA_STATUSES
from nexus_sync.simulator import SimConfig, Simulator
from tests.connectors.okta.sim_client import OKTA_AUTH, okta_all

ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    s = Simulator(SimConfig(seed=11, sizes={"crowdstrike": 1200, "okta": 450})).start()
    yield s
    s.stop()


def test_users_look_like_the_vendor_facts(sim):
    users = list(sim.truth("okta").values())
    assert len({u["profile"]["email"] for u in users}) == len(users)
    for u in users:
        assert re.match(r"^00u[0-9A-Za-z]{17}$", u["id"])
        assert u["status"] in OKTA_STATUSES
        assert all(u[f] is None or ISO_MS_Z.match(u[f]) for f in
                   ("created", "activated", "statusChanged", "lastLogin", "lastUpdated", "passwordChanged"))
        assert u["profile"]["login"] == u["profile"]["email"] and u["profile"]["firstName"]
        assert u["_links"]["self"]["href"] == f"{sim.base_url('okta')}/api/v1/users/{u['id']}"


def test_okta_link_paging_covers_every_user_once(sim):
    url = sim.base_url("okta") + "/api/v1/users"
    users, nexts = okta_all(url, limit=200)
    ids = [u["id"] for u in users]
    listed = [i for i, u in sim.truth("okta").items() if u["status"] != "DEPROVISIONED"]  # hidden, as Okta does
    assert len(ids) == len(set(ids)) == len(listed) and ids == listed and len(listed) < 450
    assert len(nexts) == 2
    for nxt in nexts:
        assert nxt.startswith(sim.base_url("okta") + "/api/v1/users?after=00u") and "limit=200" in nxt

    r = requests.get(url, headers=OKTA_AUTH, params={"limit": 1000})  # capped like Okta, not rejected
    assert r.status_code == 200 and len(r.json()) == 200 and "limit=200" in r.links["next"]["url"]
    assert r.links["self"]["url"].startswith(sim.base_url("okta") + "/api/v1/users")
    default = requests.get(url, headers=OKTA_AUTH)
    assert len(default.json()) == 200

    truth = sim.truth("okta")
    cut = sorted(u["lastUpdated"] for u in truth.values())[300]
    got, nexts = okta_all(url, filter=f'lastUpdated gt "{cut}"', limit=50)
    assert [u["id"] for u in got] == [i for i, u in truth.items()
                                      if u["lastUpdated"] > cut and u["status"] != "DEPROVISIONED"]
    assert all("filter=lastUpdated%20gt%20%22" in n for n in nexts)
    last = requests.get(url, headers=OKTA_AUTH, params={"after": ids[-1]})
    assert last.json() == [] and "next" not in last.links


def test_okta_auth_and_single_user(sim):
    url = sim.base_url("okta") + "/api/v1/users"
    for headers in ({}, {"Authorization": "SSWS wrong"}, {"Authorization": "Bearer sim-okta-token"}):
        r = requests.get(url, headers=headers)
        assert r.status_code == 401
        assert r.json()["errorCode"] == "E0000011" and r.json()["errorSummary"] == "Invalid token provided"
        assert {"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"} <= set(r.headers)
    user = next(iter(sim.truth("okta").values()))
    r = requests.get(user["_links"]["self"]["href"], headers=OKTA_AUTH)
    assert r.status_code == 200 and r.json() == user
    r = requests.get(url + "/00unknown", headers=OKTA_AUTH)
    assert r.status_code == 404 and r.json()["errorCode"] == "E0000007"
