"""ArcSight Logger events: the fact sheet's record (golden), a total normalizer, and against the simulator the
search job task by task as the pipeline runs it (a new connector per fetch task, closed after each): a running
search re-queues with a wait (no worker held), the session handed sealed from task to task and adopted (one login
for the whole sync), logged out and the search closed after the last page and on any failure, one restart when
the session dies under the search, the error answered with HTTP 200, window halving at the cap, the cursor."""
from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any, cast

import pytest

from connectors.arcsight_logger import CONNECTOR as Logger
from connectors.arcsight_logger.simulator import ArcsightLoggerSim
from connectors.machinery import JobPaging
from nexus_sync.errors import AuthError, ConfigError, TransientError
from nexus_sync.models import SecurityEvent
from tests.connectors.util import make

VENDOR = "arcsight_logger"
PAGING = cast(JobPaging, Logger.decl.paging)
START = "2024-01-01T00:00:00Z"
# the fact sheet's /server/search/events answer (vendor-apis-2.md §24)
FACTS = {"fields": [{"name": "_rowId", "type": "string"}, {"name": "Event Time", "type": "date"},
                    {"name": "deviceVendor", "type": "string"}, {"name": "name", "type": "string"}],
         "results": [["0:12:345", "2024-06-01T09:12:03.000Z", "Palo Alto Networks", "TRAFFIC deny"]]}


@pytest.fixture(scope="module")
def sim():
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=7, sizes={VENDOR: 25})).start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.reset(VENDOR)
    yield


def connector(sim, tmp_path, creds=None, **config):
    return make(Logger, sim.base_url(VENDOR), creds or dict(ArcsightLoggerSim.default_credentials), tmp_path,
                **{"start_time": START, "page_size": 10, **config})


def stats(sim) -> dict[str, Any]:
    return sim.vendor(VENDOR).get_stats()


class Run:
    """A sync's fetch tasks as the pipeline runs them: each task a new connector, closed in a finally."""

    def __init__(self, sim, tmp_path, **config):
        self.sim, self.tmp_path, self.config = sim, tmp_path, config
        self.records: list[dict] = []
        self.pages, self.waits, self.states, self.cursors = 0, [], [], []

    def task(self, state, since=None):
        conn = connector(self.sim, self.tmp_path, **self.config)
        try:
            return conn.fetch_page(state, since)
        finally:
            conn.close()

    def all(self, since=None, state=None, before_task=None) -> Run:
        while True:
            if before_task:
                before_task(self)
            page = self.task(state, since)
            if page.wait is not None:
                assert not page.records and page.next is not None
                self.waits.append(page.wait)
            else:
                self.records += page.records
                self.pages += 1
                self.cursors += [page.cursor] if page.cursor else []
            if page.next is None:
                return self
            state = page.next
            self.states.append(state)


def ended_cleanly(sim) -> bool:
    st = stats(sim)
    return st["logouts"] == st["logins"] and st["live_sessions"] == 0 and st["live_searches"] == 0


def test_the_fact_sheets_events_zip_into_the_golden_record(sim, tmp_path):
    [record] = PAGING.records(connector(sim, tmp_path), FACTS)
    assert record == {"_rowId": "0:12:345", "Event Time": "2024-06-01T09:12:03.000Z",
                      "deviceVendor": "Palo Alto Networks", "name": "TRAFFIC deny"}
    assert Logger.normalize(record) == {"uid": "0:12:345", "title": "TRAFFIC deny", "severity": "medium",
                                        "time": "2024-06-01T09:12:03Z", "host": None, "user": None, "status": None}
    assert SecurityEvent.model_validate(Logger.normalize(record)).uid == "0:12:345"


def test_the_normalizer_is_total(sim, tmp_path):
    short = PAGING.records(connector(sim, tmp_path), {**FACTS, "results": [["1:2:3"]]})
    assert short == [{"_rowId": "1:2:3", "Event Time": None, "deviceVendor": None, "name": None}]
    base = {"_rowId": "1:2:3", "name": "x", "priority": 9}
    assert Logger.normalize(base)["severity"] == "critical" and Logger.normalize(base)["time"] is None
    assert Logger.normalize({**base, "priority": ["3"]})["severity"] == "low"
    assert Logger.normalize({**base, "priority": "urgent?"})["severity"] == "medium"
    assert Logger.normalize({**base, "Event Time": "not a time", "deviceReceiptTime": 1717232523000})["time"] == \
        "2024-06-01T09:02:03Z"
    assert Logger.normalize({"_rowId": 7})["title"] == "ArcSight Logger event 7"
    with pytest.raises(KeyError):
        Logger.normalize({"name": "no id"})


@pytest.mark.parametrize("size", [0, 1, 25])
def test_every_event_once_in_one_session_logged_out_and_closed_at_the_end(sim, tmp_path, size):
    vendor = sim.vendor(VENDOR)
    vendor.order[size:] = []
    run = Run(sim, tmp_path).all()
    assert sorted(r["_rowId"] for r in run.records) == sorted(vendor.order)
    assert run.pages == max(1, -(-size // 10)) and run.waits == [2.0, 2.0]  # running twice, then read
    st = stats(sim)
    assert st["logins"] == 1 and st["searches"] == st["closes"] == 1 and ended_cleanly(sim)


def test_page_two_reads_on_from_the_offset_in_the_body(sim, tmp_path):
    run = Run(sim, tmp_path).all()
    reads = [s for s in run.states if "offset" in s]
    assert [s["offset"] for s in reads] == [10, 20] and all(s["total"] == 25 for s in reads)
    assert stats(sim)["by_path"]["/server/search/events"] == 3


def test_a_running_search_is_a_wait_page_holding_no_worker(sim, tmp_path):
    sim.set_faults(VENDOR, polls_to_complete=1000)
    started = time.monotonic()
    conn = connector(sim, tmp_path)
    page = conn.fetch_page(None, None)
    conn.close()
    assert page.wait == 2.0 and page.records == [] and time.monotonic() - started < 2.0
    assert page.next["waited"] == 2.0 and page.next["sealed"] and "window" in page.next
    assert stats(sim)["logouts"] == 0 and stats(sim)["live_searches"] == 1  # handed over, not ended
    with pytest.raises(Exception, match="not finished after"):  # past the budget: the page fails ...
        Run(sim, tmp_path, job_budget_seconds=6).all(state=page.next)
    assert ended_cleanly(sim)  # ... and the search is closed, the session logged out


def test_the_session_travels_sealed_and_is_adopted_by_each_next_task(sim, tmp_path):
    run = Run(sim, tmp_path).all()
    vendor = sim.vendor(VENDOR)
    [token] = vendor.issued
    assert len(run.states) == 4 and all(s["sealed"] for s in run.states)
    assert not any(token in repr(s) for s in run.states)  # ciphertext only
    st = stats(sim)
    assert st["logins"] == 1 and st["served_401"] == 0 and ended_cleanly(sim)


def test_a_sealed_session_opens_only_for_its_connector_state_and_password(sim, tmp_path):
    from connectors.machinery.paging import job_session

    sim.set_faults(VENDOR, polls_to_complete=5)
    first = connector(sim, tmp_path)
    state = first.fetch_page(None, None).next
    first.close()
    assert job_session.adopt(connector(sim, tmp_path), state)
    assert not job_session.adopt(connector(sim, tmp_path), {**state, "waited": 99.0})  # another state
    creds = {**ArcsightLoggerSim.default_credentials, "password": "changed"}
    assert not job_session.adopt(connector(sim, tmp_path, creds=creds), state)  # another password


def test_a_session_that_dies_under_the_search_restarts_it_once(sim, tmp_path):
    vendor = sim.vendor(VENDOR)

    def expire(run):  # before the third task: the vendor's inactivity timeout ends the session
        if len(run.states) == 2 and stats(sim)["logins"] == 1:
            vendor.expire_sessions()

    run = Run(sim, tmp_path).all(before_task=expire)
    assert sorted(r["_rowId"] for r in run.records) == sorted(vendor.order)
    st = stats(sim)
    assert st["logins"] == 2 and st["searches"] == 2 and st["reused_ids"] == 0  # a new search id
    assert run.states[-1]["restarted"] and st["logouts"] == 1  # the dead one had ended already
    assert st["live_sessions"] == st["live_searches"] == 0


def test_a_session_that_dies_again_after_its_restart_fails_the_page_logged_out(sim, tmp_path):
    vendor = sim.vendor(VENDOR)
    sim.set_faults(VENDOR, polls_to_complete=5)
    run = Run(sim, tmp_path)
    state = run.task(None).next
    vendor.expire_sessions()
    state = run.task(state).next  # restarted: a new login, a new search
    assert state["restarted"] and stats(sim)["logins"] == 2
    vendor.expire_sessions()
    with pytest.raises(AuthError):
        run.task(state)
    assert stats(sim)["logins"] == 2 and stats(sim)["live_sessions"] == 0


def test_a_sealed_session_that_no_longer_opens_restarts_the_search(sim, tmp_path):
    sim.set_faults(VENDOR, polls_to_complete=1)
    run = Run(sim, tmp_path)
    state = run.task(None).next
    run.all(state={**state, "sealed": state["sealed"][:-8] + "AAAAAAAA"})
    assert len(run.records) == 25 and stats(sim)["logins"] == 2 and stats(sim)["logouts"] == 1
    assert stats(sim)["live_sessions"] == 1  # the first session: left to the vendor's inactivity timeout


def test_wrong_credentials_are_an_auth_error_without_a_search(sim, tmp_path):
    creds = {"username": "nexus-api", "password": "wrong"}
    conn = connector(sim, tmp_path, creds=creds)
    with pytest.raises(AuthError):
        conn.fetch_page(None, None)
    conn.close()
    assert stats(sim)["logins"] == 0 and stats(sim)["searches"] == 0


def test_a_search_error_answered_with_200_fails_the_page_closed_and_logged_out(sim, tmp_path):
    sim.set_faults(VENDOR, fail_searches=1)
    with pytest.raises(TransientError, match="an error in the body, answered as 500") as caught:
        Run(sim, tmp_path).all()
    assert "the search engine stopped" in str(caught.value)
    st = stats(sim)
    assert st["closes"] == 1 and ended_cleanly(sim)
    assert len(Run(sim, tmp_path).all().records) == 25  # the retry: a new search, a new id


def test_a_failed_read_still_closes_the_search_and_logs_out(sim, tmp_path):
    run = Run(sim, tmp_path)
    state = run.task(None).next
    sim.set_faults(VENDOR, broken_paths=["/server/search/events"])
    with pytest.raises(TransientError):
        run.all(state=state)
    st = stats(sim)
    assert st["by_status"]["500"] == 1 and st["closes"] == 1 and ended_cleanly(sim)


def test_a_released_listing_closes_its_search_and_logs_out(sim, tmp_path):
    sim.set_faults(VENDOR, polls_to_complete=5)
    state = Run(sim, tmp_path).task(None).next
    conn = connector(sim, tmp_path)
    conn.release(state)
    conn.close()
    assert stats(sim)["closes"] == 1 and ended_cleanly(sim)


def test_a_full_window_is_halved_and_read_again_skipping_nothing(sim, tmp_path):
    sim.set_faults(VENDOR, search_cap=7)
    run = Run(sim, tmp_path, job_cap=7).all()
    assert sorted(r["_rowId"] for r in run.records) == sorted(sim.vendor(VENDOR).order)
    st = stats(sim)
    assert st["searches"] > 4 and st["closes"] == st["searches"] and st["logins"] == 1 and ended_cleanly(sim)
    assert run.cursors == sorted(run.cursors) and len(run.cursors) == len(set(run.cursors)) > 1


def test_incremental_searches_from_the_cursor_to_now_and_moves_it(sim, tmp_path):
    truth = sim.truth(VENDOR)
    since = sorted(r["Event Time"] for r in truth.values())[20]  # all in one layout: compared as text
    run = Run(sim, tmp_path, incremental=True).all(since=since)
    assert {r["_rowId"] for r in run.records} == {k for k, r in truth.items() if r["Event Time"] >= since}
    assert len(run.records) == 5
    end = datetime.fromisoformat(run.cursors[-1]).timestamp()
    assert time.time() - 120 < end < time.time() - 59  # now, less the lag for events still arriving


def test_a_start_time_that_is_no_time_is_a_config_error(sim, tmp_path):
    with pytest.raises(ConfigError):
        connector(sim, tmp_path, start_time="yesterday").fetch_page(None, None)


def test_a_failed_sync_is_logged_out_through_the_fetch_stage(sim, make_connector):
    from nexus_sync import pipeline

    row = make_connector(sim, VENDOR)
    hid = str(uuid.uuid4())
    started = pipeline.start(row.name, hid, "test")
    fetched = pipeline.fetch(hid, 0, None, started.since)
    assert fetched.wait == 2.0 and stats(sim)["logouts"] == 0  # handed over
    sim.set_faults(VENDOR, broken_paths=["/server/search/status"])
    with pytest.raises(TransientError):
        pipeline.fetch(hid, 0, fetched.next, started.since)
    assert ended_cleanly(sim) and stats(sim)["closes"] == 1
    pipeline.release_lock(row.id, hid)
