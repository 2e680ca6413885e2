"""The simulator framework over real HTTP, shown through two vendors (CrowdStrike and Okta): determinism,
rate limits in each vendor's dialect, the per-minute budget, mutation, faults, the control plane and
`serve_forever`. Each vendor's own API is tested beside its connector (tests/connectors/<type>/)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from typing import Iterator

import pytest
import requests

from nexus_sync.simulator import SimConfig, Simulator, data, discover
from tests.connectors.crowdstrike.sim_client import cs_query_all, cs_session
from tests.connectors.okta.sim_client import OKTA_AUTH, okta_all


@pytest.fixture
def sim() -> Iterator[Simulator]:
    s = Simulator(SimConfig(seed=11, sizes={"crowdstrike": 1200, "okta": 450})).start()
    yield s
    s.stop()


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
