"""The Logger simulator serves the fact sheet's search lifecycle as the vendor does (§24), spoken to over HTTP
directly: running then complete, `error` with HTTP 200, the 10,000 cap, a reused search_session_id refused,
searches that die with their session (logout or inactivity) and results deleted `timeout` ms after completion."""
from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from connectors.arcsight_logger.simulator import ArcsightLoggerSim

VENDOR = "arcsight_logger"
WINDOW = {"start_time": "2024-01-01T00:00:00.000Z", "end_time": "2024-12-31T00:00:00.000Z"}


@pytest.fixture(scope="module")
def sim():
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=3, sizes={VENDOR: 30})).start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.reset(VENDOR)
    yield


class Logger:
    def __init__(self, sim):
        self.url = sim.base_url(VENDOR)
        creds = ArcsightLoggerSim.default_credentials
        resp = requests.post(self.url + "/core-service/rest/LoginService/login", timeout=5,
                             data={"login": creds["username"], "password": creds["password"]},
                             headers={"Accept": "application/json"})
        self.token = resp.json()["log.loginResponse"]["log.return"]

    def post(self, path: str, sid: int, **body: Any) -> requests.Response:
        return requests.post(self.url + "/server/search" + path, timeout=5,
                             json={"search_session_id": sid, "user_session_id": self.token, **body})

    def logout(self) -> None:
        requests.post(self.url + "/core-service/rest/LoginService/logout", data={"authToken": self.token}, timeout=5)

    def until_complete(self, sid: int) -> dict:
        for _ in range(10):
            answer = self.post("/status", sid).json()
            if answer["status"] != "running":
                return answer
        raise AssertionError("the search never completed")


def test_a_search_runs_then_completes_and_reads_positional_rows(sim):
    s = Logger(sim)
    assert s.post("", 101, query="", **WINDOW).status_code == 200
    assert s.post("/status", 101).json()["status"] == "running"
    assert s.post("/events", 101, offset=0, length=5).status_code == 400  # not complete yet
    assert s.until_complete(101) == {"status": "complete", "result_type": "event", "hit": 30, "scanned": 30,
                                     "elapsed": "00:00:01"}
    page = s.post("/events", 101, offset=25, length=10).json()
    assert [f["name"] for f in page["fields"]][:2] == ["_rowId", "Event Time"] and len(page["results"]) == 5
    assert isinstance(page["results"][0][2], int)  # deviceReceiptTime: epoch ms


def test_a_search_id_is_never_reused_even_across_sessions(sim):
    s = Logger(sim)
    s.post("", 7, **WINDOW)
    assert s.post("", 7, **WINDOW).status_code == 400
    assert Logger(sim).post("", 7, **WINDOW).status_code == 400
    assert sim.vendor(VENDOR).get_stats()["reused_ids"] == 2


def test_an_error_is_answered_with_http_200(sim):
    sim.set_faults(VENDOR, fail_searches=1, polls_to_complete=0)
    s = Logger(sim)
    s.post("", 1, **WINDOW)
    resp = s.post("/status", 1)
    assert resp.status_code == 200 and resp.json()["status"] == "error"


def test_the_hit_count_stops_at_the_cap(sim):
    sim.set_faults(VENDOR, search_cap=12, polls_to_complete=0)
    s = Logger(sim)
    s.post("", 1, **WINDOW)
    assert s.post("/status", 1).json()["hit"] == 12 and len(s.post("/events", 1, length=100).json()["results"]) == 12


@pytest.mark.parametrize("end", ["logout", "inactivity"])
def test_the_search_dies_with_its_session(sim, end):
    sim.set_faults(VENDOR, polls_to_complete=0)
    s = Logger(sim)
    s.post("", 1, **WINDOW)
    assert s.post("/status", 1).status_code == 200
    if end == "logout":
        s.logout()
    else:
        sim.vendor(VENDOR).expire_sessions()
    assert s.post("/status", 1).status_code == 401
    assert sim.vendor(VENDOR).get_stats()["live_searches"] == 0


def test_results_are_deleted_after_the_timeout_and_a_closed_search_is_gone(sim):
    sim.set_faults(VENDOR, polls_to_complete=0)
    s = Logger(sim)
    s.post("", 1, timeout=200, **WINDOW)
    s.post("", 2, **WINDOW)
    assert s.post("/status", 1).status_code == s.post("/status", 2).status_code == 200  # completed now
    deadline = time.monotonic() + 5
    while s.post("/status", 1).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert s.post("/events", 1).status_code == 400 and s.post("/events", 2).status_code == 200
    assert s.post("/close", 2).status_code == 200 and s.post("/events", 2).status_code == 400
