"""ArcSight ESM query viewer events: the matrix shapes of the fact sheet (golden), a total normalizer, and against
the simulator the owned login token (JSON login with Accept, `authToken` as a query parameter, one login per task,
a POST logout at its end — also when the page failed, through the pipeline's fetch stage — re-established once
after a 401), version-namespaced keys, a one-row matrix, 429 and the Start Time cursor."""
from __future__ import annotations

import uuid

import pytest

from connectors.arcsight_esm import CONNECTOR as Esm
from connectors.arcsight_esm.hooks import matrix_records
from nexus_sync.errors import AuthError, RateLimited, TransientError
from nexus_sync.models import SecurityEvent
from tests.connectors.util import Sleeps, drain, make

MATRIX = "/www/manager-service/rest/QueryViewerService/getMatrixData"
HEADERS = ["Event ID", "Start Time", "Name", "Priority", "Device Vendor", "Target Host Name", "Source User Name"]
ROW = {"value": [{"$": "1000000042"}, {"$": "1717232523000"}, {"$": "TRAFFIC deny"}, {"$": "7"},
                 {"$": "Palo Alto Networks"}, {"$": "ws22.corp.example"}, {}]}


@pytest.fixture(scope="module")
def sim():
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=7, sizes={"arcsight_esm": 25})).start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.reset("arcsight_esm")
    yield


def connector(sim, tmp_path, creds=None, sleeps=None, **config):
    from connectors.arcsight_esm.simulator import VIEWER_ID, ArcsightEsmSim

    return make(Esm, sim.base_url("arcsight_esm"), creds or dict(ArcsightEsmSim.default_credentials), tmp_path,
                sleep=sleeps, query_viewer_id=VIEWER_ID, **config)


def stats(sim):
    return sim.vendor("arcsight_esm").get_stats()


@pytest.mark.parametrize("ns", ["qvs", "que"])  # 6.7 / 6.9, and later versions
def test_the_matrix_zips_rows_with_headers_whatever_the_version(ns):
    body = {f"{ns}.getMatrixDataResponse": {f"{ns}.return": {"columnHeaders": HEADERS, "rows": [ROW]}}}
    [record] = matrix_records(body)
    assert record["Event ID"] == "1000000042" and record["Source User Name"] is None
    assert Esm.normalize(record) == {"uid": "1000000042", "title": "TRAFFIC deny", "severity": "high",
                                     "time": "2024-06-01T09:02:03Z", "host": "ws22.corp.example", "user": None,
                                     "status": None}
    assert SecurityEvent.model_validate(Esm.normalize(record)).severity_label == "high"


def test_odd_matrices_are_read_totally():
    one_row = {"que.getMatrixDataResponse": {"que.return": {"columnHeaders": HEADERS, "rows": ROW}}}
    assert len(matrix_records(one_row)) == 1
    short = {"que.getMatrixDataResponse": {"que.return": {"columnHeaders": HEADERS, "rows": [{"value": [{"$": "9"}]}]}}}
    assert matrix_records(short) == [{"Event ID": "9", **{h: None for h in HEADERS[1:]}}]
    assert matrix_records({"que.getMatrixDataResponse": {"que.return": {"columnHeaders": HEADERS}}}) == []


def test_the_normalizer_is_total():
    base = {"Event ID": "5", "Start Time": "1717232523000", "Name": "x", "Priority": "10"}
    assert Esm.normalize(base)["severity"] == "critical"
    assert Esm.normalize({**base, "Priority": "Very-Low"})["severity"] == "info"
    assert Esm.normalize({**base, "Priority": ["3"]})["severity"] == "low"
    assert Esm.normalize({**base, "Priority": "urgent?"})["severity"] == "medium"
    assert Esm.normalize({**base, "Start Time": "not a time"})["time"] is None
    assert Esm.normalize({"Event ID": "5"})["title"] == "ArcSight event 5"
    with pytest.raises(KeyError):
        Esm.normalize({"Name": "no id"})


@pytest.mark.parametrize("size", [0, 1, 25])
@pytest.mark.parametrize("version", [6, 7])
def test_the_whole_matrix_in_one_call(sim, tmp_path, size, version):
    vendor = sim.vendor("arcsight_esm")
    vendor.order[size:] = []
    sim.set_faults("arcsight_esm", esm_major=version)
    records, pages = drain(connector(sim, tmp_path))
    assert sorted(r["Event ID"] for r in records) == sorted(vendor.order) and pages == 1


def test_the_token_is_owned_sent_as_auth_token_and_logged_out(sim, tmp_path):
    conn = connector(sim, tmp_path)
    drain(conn)
    drain(conn)
    st = stats(sim)
    assert st["logins"] == 1 and st["logins_in_url"] == 0 and st["live_sessions"] == 1  # one login per task
    conn.close()
    assert stats(sim)["logouts"] == 1 and stats(sim)["live_sessions"] == 0
    other = connector(sim, tmp_path)
    drain(other)  # another task: its own session, never the first one's
    assert stats(sim)["logins"] == 2
    other.close()


def test_a_token_that_dies_mid_task_is_re_established_once(sim, tmp_path):
    sim.set_faults("arcsight_esm", expire_after=1)
    conn = connector(sim, tmp_path)
    drain(conn)
    drain(conn)  # 401: one new login, the request again
    assert stats(sim)["logins"] == 2 and stats(sim)["served_401"] == 1
    with pytest.raises(AuthError):  # it dies again: the error stands
        drain(conn)
    assert stats(sim)["logins"] == 2
    conn.close()
    assert stats(sim)["logouts"] == 1


def test_wrong_credentials_are_an_auth_error(sim, tmp_path):
    conn = connector(sim, tmp_path, creds={"username": "nexus-api", "password": "wrong"})
    with pytest.raises(AuthError):
        drain(conn)
    conn.close()
    assert stats(sim)["logins"] == 0 and stats(sim)["by_path"].get(MATRIX) is None


def test_429_is_waited_out(sim, tmp_path):
    sim.set_faults("arcsight_esm", rate_limit_every=2, retry_after_seconds=1)
    sleeps = Sleeps()
    conn = connector(sim, tmp_path, sleeps=sleeps)
    drain(conn)
    records, _ = drain(conn)
    assert len(records) == 25 and sleeps
    sim.set_faults("arcsight_esm", rate_limit_every=1)
    with pytest.raises(RateLimited):
        drain(connector(sim, tmp_path, sleeps=Sleeps()))


def test_incremental_keeps_rows_from_the_cursor_on(sim, tmp_path):
    conn = connector(sim, tmp_path, incremental=True)
    truth = sim.truth("arcsight_esm")
    since = sorted(conn.cursor_value(r) for r in truth.values())[20]
    records, _ = drain(conn, since=since)
    assert {r["Event ID"] for r in records} == {k for k, r in truth.items() if int(r["Start Time"]) >= int(since)}
    assert len(records) == 5


def test_a_failed_page_still_logs_out_through_the_fetch_stage(sim, make_connector):
    from nexus_sync import pipeline

    row = make_connector(sim, "arcsight_esm")
    hid = str(uuid.uuid4())
    started = pipeline.start(row.name, hid, "test")
    sim.set_faults("arcsight_esm", broken_paths=[MATRIX])
    with pytest.raises(TransientError):
        pipeline.fetch(hid, 0, None, started.since)
    st = stats(sim)
    assert st["by_status"].get("500") == 1 and st["logins"] == st["logouts"] == 1 and st["live_sessions"] == 0
