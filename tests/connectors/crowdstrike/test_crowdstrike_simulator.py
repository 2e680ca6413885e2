"""The CrowdStrike simulator over real HTTP (connectors/crowdstrike/simulator.py): vendor facts
(../shared/vendor-apis.md §1), the token flow, id queries with paging, filter, sort and the 10k window,
scroll tokens and the details endpoint."""
from __future__ import annotations

import re
import time
from typing import Iterator

import pytest
import requests

from nexus_sync.simulator import SimConfig, Simulator
from tests.connectors.crowdstrike.sim_client import CS_CREDS, cs_query_all, cs_session

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    s = Simulator(SimConfig(seed=11, sizes={"crowdstrike": 1200, "okta": 450})).start()
    yield s
    s.stop()


def test_hosts_look_like_the_vendor_facts(sim):
    hosts = list(sim.truth("crowdstrike").values())
    assert len({h["cid"] for h in hosts}) == 1
    for h in hosts:
        assert HEX32.match(h["device_id"]) and HEX32.match(h["cid"])
        assert re.match(r"^([0-9a-f]{2}-){5}[0-9a-f]{2}$", h["mac_address"])
        assert h["platform_name"] in {"Windows", "Mac", "Linux"} and h["status"] == "normal"
        assert h["product_type_desc"] in {"Server", "Workstation"}
        assert all(ISO_Z.match(h[f]) for f in ("first_seen", "last_seen", "modified_timestamp"))
        assert h["first_seen"] <= h["last_seen"] <= h["modified_timestamp"]
        assert isinstance(h["tags"], list) and isinstance(h["groups"], list)
        assert h["hostname"] and h["local_ip"] and h["external_ip"] and h["os_version"] and h["agent_version"]


def test_crowdstrike_token_flow_and_401s(sim):
    base = sim.base_url("crowdstrike")
    r = requests.post(base + "/oauth2/token", data=CS_CREDS)
    assert r.status_code == 201
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 1799 and body["access_token"]
    assert "X-Ratelimit-Limit" in r.headers and "X-Ratelimit-Remaining" in r.headers

    bad = requests.post(base + "/oauth2/token", data={**CS_CREDS, "client_secret": "nope"})
    assert bad.status_code == 401 and bad.json()["errors"][0]["code"] == 401 and "meta" in bad.json()

    q = base + "/devices/queries/devices/v1"
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        r = requests.get(q, headers=headers)
        assert r.status_code == 401
        assert r.json()["errors"] == [{"code": 401, "message": "access denied, authorization failed"}]
        assert r.headers["X-Ratelimit-Limit"] == "6000"
    ok = requests.get(q, headers={"Authorization": "Bearer " + body["access_token"]})
    assert ok.status_code == 200 and ok.headers["X-Ratelimit-Remaining"] == "5999"
    assert set(ok.json()["meta"]) >= {"query_time", "pagination", "powered_by", "trace_id"}
    assert ok.json()["errors"] == []


def test_crowdstrike_token_expires_after_ttl():
    s = Simulator(SimConfig(sizes={"crowdstrike": 10, "okta": 10}, token_ttl=1)).start()
    try:
        sess = cs_session(s)
        url = s.base_url("crowdstrike") + "/devices/queries/devices/v1"
        assert sess.get(url).status_code == 200
        time.sleep(1.2)
        r = sess.get(url)
        assert r.status_code == 401 and r.json()["errors"][0]["message"] == "access denied, authorization failed"
        assert s.stats("crowdstrike")["served_401"] == 1
    finally:
        s.stop()


def test_crowdstrike_query_paging_filter_sort_and_10k_cap(sim):
    sess = cs_session(sim)
    truth = sim.truth("crowdstrike")
    ids = cs_query_all(sim, sess, 500)
    assert len(ids) == len(set(ids)) == 1200 and ids == list(truth)  # stable default order

    first = sess.get(sim.base_url("crowdstrike") + "/devices/queries/devices/v1",
                     params={"offset": 0, "limit": 500}).json()["meta"]["pagination"]
    assert first == {"offset": 500, "limit": 500, "total": 1200}  # offset = where the next page starts

    assert cs_query_all(sim, sess, 1000, sort="device_id.asc") == sorted(truth)
    assert cs_query_all(sim, sess, 1000, sort="hostname|desc") == sorted(
        truth, key=lambda i: truth[i]["hostname"], reverse=True)
    cut = sorted(h["modified_timestamp"] for h in truth.values())[600]
    for op, expect in ((">", lambda t: t > cut), (">=", lambda t: t >= cut)):
        got = cs_query_all(sim, sess, 5000, filter=f"modified_timestamp:{op}'{cut}'")
        assert got == [i for i, h in truth.items() if expect(h["modified_timestamp"])] and got

    q = sim.base_url("crowdstrike") + "/devices/queries/devices/v1"
    assert sess.get(q, params={"offset": 5000, "limit": 5000}).status_code == 200
    for params in ({"offset": 9000, "limit": 1001}, {"offset": 10000, "limit": 1}, {"limit": 5001},
                   {"limit": 0}, {"filter": "modified_timestamp:>'yesterday'"}, {"sort": "nope.asc"}):
        r = sess.get(q, params=params)
        assert r.status_code == 400, params
        assert r.json()["errors"][0]["code"] == 400 and r.json()["resources"] == []


def test_crowdstrike_scroll_covers_25k_exactly_once_and_tokens_expire():
    s = Simulator(SimConfig(seed=3, sizes={"crowdstrike": 25_000, "okta": 10})).start()
    try:
        sess = cs_session(s)
        url = s.base_url("crowdstrike") + "/devices/queries/devices-scroll/v1"
        ids: list[str] = []
        token, total, pages = "", None, 0
        while total is None or len(ids) < total:
            r = sess.get(url, params={"limit": 10_000, **({"offset": token} if token else {})})
            assert r.status_code == 200, r.text
            pag = r.json()["meta"]["pagination"]
            ids += r.json()["resources"]
            token, total, pages = pag["offset"], pag["total"], pages + 1
            assert isinstance(token, str) and token and pag["limit"] == 10_000
        assert pages == 3 and len(ids) == len(set(ids)) == 25_000 and set(ids) == set(s.vendor("crowdstrike").order)
        end = sess.get(url, params={"offset": token, "limit": 10_000}).json()  # the page after the end
        assert end["resources"] == [] and end["meta"]["pagination"]["offset"] == ""

        assert sess.get(url, params={"limit": 10_001}).status_code == 400
        s.set_faults("crowdstrike", scroll_ttl_seconds=0.2)
        tok = sess.get(url, params={"limit": 10}).json()["meta"]["pagination"]["offset"]
        time.sleep(0.3)
        r = sess.get(url, params={"offset": tok, "limit": 10})
        assert r.status_code == 400 and "expired" in r.json()["errors"][0]["message"]
    finally:
        s.stop()


def test_crowdstrike_details_post_and_get(sim):
    sess = cs_session(sim)
    truth = sim.truth("crowdstrike")
    url = sim.base_url("crowdstrike") + "/devices/entities/devices/v2"
    ids = list(truth)
    r = sess.post(url, json={"ids": ids + ["0" * 32]})
    assert r.status_code == 200
    assert {h["device_id"]: h for h in r.json()["resources"]} == truth
    assert [e["code"] for e in r.json()["errors"]] == [404] and "0" * 32 in r.json()["errors"][0]["message"]
    assert sess.post(url, json={"ids": ["x"] * 5001}).status_code == 400
    assert sess.post(url, data=b"not json").status_code == 400
    r = sess.get(url, params=[("ids", i) for i in ids[:100]])
    assert r.status_code == 200 and [h["device_id"] for h in r.json()["resources"]] == ids[:100]
    assert sess.get(url, params={"ids": ",".join(ids[:101])}).status_code == 400
