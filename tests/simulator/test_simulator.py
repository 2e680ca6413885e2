"""The vendor simulator over real HTTP: vendor facts (../shared/vendor-apis.md §1, §5),
determinism, paging, auth, rate limits, mutation, faults and the control plane."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from typing import Any, Iterator

import pytest
import requests

from nexus_sync.simulator import SimConfig, Simulator, data

CS_CREDS = {"client_id": "sim-client", "client_secret": "sim-secret"}
OKTA_AUTH = {"Authorization": "SSWS sim-okta-token"}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    s = Simulator(SimConfig(seed=11, sizes={"crowdstrike": 1200, "okta": 450})).start()
    yield s
    s.stop()


def cs_session(s: Simulator) -> requests.Session:
    r = requests.post(s.base_url("crowdstrike") + "/oauth2/token", data=CS_CREDS, timeout=10)
    assert r.status_code == 201, r.text
    sess = requests.Session()
    sess.headers["Authorization"] = "Bearer " + r.json()["access_token"]
    return sess


def cs_query_all(s: Simulator, sess: requests.Session, limit: int, **params: Any) -> list[str]:
    """Offset paging as falconpy's offset_vs_token.py does it: send back meta.pagination.offset."""
    ids: list[str] = []
    offset, total = 0, 1
    while offset < total:
        r = sess.get(s.base_url("crowdstrike") + "/devices/queries/devices/v1",
                     params={"offset": offset, "limit": limit, **params}, timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        ids += body["resources"]
        offset, total = body["meta"]["pagination"]["offset"], body["meta"]["pagination"]["total"]
    return ids


def okta_all(url: str, headers: dict = OKTA_AUTH, **params: Any) -> tuple[list[dict], list[str]]:
    users, nexts = [], []
    r = requests.get(url, headers=headers, params=params, timeout=10)
    while True:
        assert r.status_code == 200, r.text
        users += r.json()
        nxt = r.links.get("next", {}).get("url")
        if not nxt:
            return users, nexts
        nexts.append(nxt)
        r = requests.get(nxt, headers=headers, timeout=10)


# ---- data ---------------------------------------------------------------------------

def test_same_seed_same_data_and_vendors_are_independent():
    a = Simulator(SimConfig(seed=5, sizes={"crowdstrike": 300, "okta": 200}))
    b = Simulator(SimConfig(seed=5, sizes={"crowdstrike": 900, "okta": 200}))
    c = Simulator(SimConfig(seed=6, sizes={"crowdstrike": 300, "okta": 200}))
    try:
        def okta(s: Simulator) -> dict:  # _links carry the server's own URL; the rest is data
            return {k: {**v, "_links": None} for k, v in s.truth("okta").items()}

        assert okta(a) == okta(b)  # crowdstrike's size does not move okta's data
        assert list(a.truth("crowdstrike").items()) == list(b.truth("crowdstrike").items())[:300]
        assert set(a.truth("crowdstrike")).isdisjoint(c.truth("crowdstrike"))
        assert data.generate("okta", 5, 50) == data.generate("okta", 5, 50)
    finally:
        for s in (a, b, c):
            s.stop()


def test_records_look_like_the_vendor_facts(sim):
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
    users = list(sim.truth("okta").values())
    assert len({u["profile"]["email"] for u in users}) == len(users)
    for u in users:
        assert re.match(r"^00u[0-9A-Za-z]{17}$", u["id"])
        assert u["status"] in data.OKTA_STATUSES
        assert all(u[f] is None or ISO_MS_Z.match(u[f]) for f in
                   ("created", "activated", "statusChanged", "lastLogin", "lastUpdated", "passwordChanged"))
        assert u["profile"]["login"] == u["profile"]["email"] and u["profile"]["firstName"]
        assert u["_links"]["self"]["href"] == f"{sim.base_url('okta')}/api/v1/users/{u['id']}"


# ---- CrowdStrike ----------------------------------------------------------------------

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


# ---- Okta ------------------------------------------------------------------------------

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


# ---- rate limits ------------------------------------------------------------------------

def test_rate_limit_every_answers_429_with_each_vendors_headers(sim):
    sim.set_faults("crowdstrike", rate_limit_every=3, retry_after_seconds=2)
    sim.set_faults("okta", rate_limit_every=3, retry_after_seconds=2)
    sess = cs_session(sim)
    q = sim.base_url("crowdstrike") + "/devices/queries/devices/v1"
    codes = [sess.get(q).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    r = sess.get(q)
    assert r.status_code == 200
    sim.set_faults("crowdstrike", rate_limit_every=1)
    r = sess.get(q)
    now = time.time()
    assert r.status_code == 429 and r.headers["X-Ratelimit-Remaining"] == "0"
    assert r.headers["X-Ratelimit-Limit"] == "6000"
    assert now + 1 <= int(r.headers["X-Ratelimit-Retryafter"]) <= now + 3.5  # epoch seconds, not a duration
    assert r.json()["errors"][0]["code"] == 429

    o = sim.base_url("okta") + "/api/v1/users"
    codes = [requests.get(o, headers=OKTA_AUTH).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    sim.set_faults("okta", rate_limit_every=1)
    r = requests.get(o, headers=OKTA_AUTH)
    now = time.time()
    assert r.status_code == 429 and r.json()["errorCode"] == "E0000047"
    assert r.json()["errorSummary"] == "API call exceeded rate limit due to too many requests."
    assert r.headers["X-Rate-Limit-Remaining"] == "0" and r.headers["X-Rate-Limit-Limit"] == "600"
    assert now + 1 <= int(r.headers["X-Rate-Limit-Reset"]) <= now + 3.5
    assert sim.stats("crowdstrike")["served_429"] == 2 and sim.stats("okta")["served_429"] == 2
    assert sim.stats("okta")["faults"]["rate_limit"] == 2


def test_per_minute_limit():
    s = Simulator(SimConfig(sizes={"crowdstrike": 20, "okta": 20}, rate_limit={"crowdstrike": 5, "okta": 4})).start()
    try:
        sess = cs_session(s)
        q = s.base_url("crowdstrike") + "/devices/queries/devices/v1"
        got = [sess.get(q) for _ in range(6)]
        assert [r.status_code for r in got] == [200] * 5 + [429]
        assert [r.headers["X-Ratelimit-Remaining"] for r in got] == ["4", "3", "2", "1", "0", "0"]
        retry = int(got[-1].headers["X-Ratelimit-Retryafter"])
        assert time.time() + 50 <= retry <= time.time() + 61  # sliding minute, as epoch seconds

        o = s.base_url("okta") + "/api/v1/users"
        if time.time() % 60 > 58:  # Okta's windows are whole minutes: don't straddle one
            time.sleep(60 - time.time() % 60 + 0.05)
        got = [requests.get(o, headers=OKTA_AUTH) for _ in range(5)]
        assert [r.status_code for r in got] == [200] * 4 + [429]
        reset = int(got[-1].headers["X-Rate-Limit-Reset"])
        assert reset % 60 == 0 and time.time() < reset <= time.time() + 60  # end of this minute
        assert got[-1].json()["errorCode"] == "E0000047" and got[-1].headers["X-Rate-Limit-Remaining"] == "0"
    finally:
        s.stop()


# ---- mutation / truth ----------------------------------------------------------------

def test_mutate_changes_exact_count_deterministically_and_truth_is_served(sim):
    before = sim.truth("crowdstrike")
    newest = max(h["modified_timestamp"] for h in before.values())
    changed = sim.mutate("crowdstrike", 0.1)
    assert len(changed) == len(set(changed)) == round(0.1 * 1200)
    after = sim.truth("crowdstrike")
    assert list(after) == list(before)  # ids and order never change
    for rid in before:
        if rid in changed:
            assert after[rid] != before[rid] and after[rid]["modified_timestamp"] > newest
            assert after[rid]["last_seen"] > before[rid]["last_seen"]
        else:
            assert after[rid] == before[rid]

    twin = Simulator(SimConfig(seed=11, sizes={"crowdstrike": 1200, "okta": 450}))
    try:
        assert twin.mutate("crowdstrike", 0.1) == changed and twin.truth("crowdstrike") == after
    finally:
        twin.stop()

    sess = cs_session(sim)
    served = sess.post(sim.base_url("crowdstrike") + "/devices/entities/devices/v2",
                       json={"ids": list(after)}).json()["resources"]
    assert {h["device_id"]: h for h in served} == after
    got = cs_query_all(sim, sess, 5000, filter=f"modified_timestamp:>'{newest}'")
    assert sorted(got) == sorted(changed)

    users = sim.truth("okta")
    newest_u = max(u["lastUpdated"] for u in users.values())
    changed_u = sim.mutate("okta", 0.25)
    assert len(changed_u) == round(0.25 * 450)
    users_after = sim.truth("okta")
    assert all(users_after[i]["lastUpdated"] > newest_u for i in changed_u)
    assert all(users_after[i] == users[i] for i in users if i not in set(changed_u))
    listed = {i: u for i, u in users_after.items() if u["status"] != "DEPROVISIONED"}  # Okta hides those
    served_u, _ = okta_all(sim.base_url("okta") + "/api/v1/users")
    assert {u["id"]: u for u in served_u} == listed
    inc, _ = okta_all(sim.base_url("okta") + "/api/v1/users", filter=f'lastUpdated gt "{newest_u}"')
    assert sorted(u["id"] for u in inc) == sorted(i for i in changed_u if i in listed)


# ---- faults ---------------------------------------------------------------------------

def test_faults_5xx_malformed_broken_slow_and_token_expiry(sim):
    sess = cs_session(sim)
    base = sim.base_url("crowdstrike")
    q = base + "/devices/queries/devices/v1"
    sim.set_faults("crowdstrike", error_5xx_every=2)
    assert [sess.get(q).status_code for _ in range(4)] == [200, 503, 200, 503]
    sim.set_faults("crowdstrike", error_5xx_every=0, malformed_every=2)
    assert sess.get(q).json()
    bad = sess.get(q)
    assert bad.status_code == 200
    with pytest.raises(ValueError):
        bad.json()
    sim.set_faults("crowdstrike", malformed_every=0, broken_paths=["/devices/entities/devices/v2"])
    assert sess.post(base + "/devices/entities/devices/v2", json={"ids": ["a"]}).status_code == 500
    assert sess.get(q).status_code == 200
    sim.set_faults("crowdstrike", broken_paths=[], token_expire_after_requests=2)
    assert [sess.get(q).status_code for _ in range(3)] == [200, 200, 401]
    assert cs_session(sim).get(q).status_code == 200  # a fresh token works again
    sim.set_faults("crowdstrike", token_expire_after_requests=0, slow_ms=150)
    t = time.perf_counter()
    assert sess.get(q).status_code == 401  # the dead token stays dead
    assert time.perf_counter() - t >= 0.15
    st = sim.stats("crowdstrike")
    assert st["faults"]["error_5xx"] == 2 and st["faults"]["malformed"] == 1 and st["faults"]["broken_path"] == 1
    assert st["faults"]["token_expired"] == 1 and st["served_401"] == 2 and st["by_status"]["503"] == 2
    with pytest.raises(ValueError):
        sim.set_faults("crowdstrike", no_such_knob=1)


# ---- control plane ----------------------------------------------------------------------

def test_control_endpoints(sim):
    ctl = sim.url + "/_sim"
    original = sim.truth("okta")
    r = requests.post(ctl + "/okta/mutate", json={"fraction": 0.1})
    assert r.status_code == 200 and r.json()["changed"] == 45 and r.json()["round"] == 1
    served = requests.get(ctl + "/okta/truth").json()["records"]
    assert served == sim.truth("okta") and served != original

    assert requests.post(ctl + "/okta/faults", json={"error_5xx_every": 1}).status_code == 200
    r = requests.get(sim.base_url("okta") + "/api/v1/users", headers=OKTA_AUTH)
    assert r.status_code == 503 and r.json()["errorCode"] == "E0000009"
    assert requests.post(ctl + "/okta/faults", json={"bogus": 1}).status_code == 400
    requests.get(sim.base_url("okta") + "/api/v1/users")  # a 401
    st = requests.get(ctl + "/okta/stats").json()
    assert st["total"] == 2 and st["by_path"] == {"/api/v1/users": 2} and st["served_401"] == 1
    assert st["by_status"] == {"503": 1, "401": 1} and st["served_429"] == 0 and st["round"] == 1

    assert requests.post(ctl + "/okta/reset").json()["round"] == 0
    assert sim.truth("okta") == original and requests.get(ctl + "/okta/stats").json()["total"] == 0
    assert requests.get(sim.base_url("okta") + "/api/v1/users", headers=OKTA_AUTH).status_code == 200
    info = requests.get(ctl).json()
    assert info["vendors"]["crowdstrike"]["base_url"] == sim.base_url("crowdstrike")
    assert requests.get(ctl + "/nope/stats").status_code == 404
    assert requests.get(sim.url + "/nope/api").status_code == 404


def test_serve_forever_prints_urls_and_stops_on_sigterm():
    code = ("from nexus_sync.simulator import SimConfig, serve_forever;"
            "serve_forever(SimConfig(sizes={'crowdstrike': 50, 'okta': 50}))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        head = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", head).group(0)
        from nexus_sync.simulator.server import discover

        lines = [proc.stdout.readline() for _ in range(len(discover()))]  # one line per vendor
        assert any(f"{url}/crowdstrike" in ln and "client_secret=sim-secret" in ln for ln in lines)
        assert any(f"{url}/okta" in ln and "token=sim-okta-token" in ln for ln in lines)
        assert requests.post(url + "/_sim/crowdstrike/mutate", json={"fraction": 0.5}).json()["changed"] == 25
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
