"""Cybereason sensors: the fact sheet's sensor (golden), a total normalizer, and against the simulator the owned
cookie session (one login per task, always a logout — also when the page failed, through the pipeline's fetch
stage — never shared, re-established once when it dies as a 302 to the login page), `offset` as a page number,
Archived sensors filtered out, 429 and full sweeps (no server-side cursor)."""
from __future__ import annotations

import pytest

from connectors.cybereason import CONNECTOR as Cybereason
from nexus_sync.errors import AuthError, RateLimited, TransientError
from nexus_sync.models import Asset
from tests.connectors.util import Sleeps, drain, make

GOLDEN = {"sensorId": "5e77883de4b0575ddcf824ef:PYLUMCLIENT_INTEGRATION_WS22_0050569BD2E1",
          "pylumId": "PYLUMCLIENT_INTEGRATION_WS22_0050569BD2E1", "guid": "-1845153266.1198775089551518743",
          "machineName": "ws22", "fqdn": "ws22.corp.example", "internalIpAddress": "10.1.2.22",
          "externalIpAddress": "198.51.100.7", "osType": "WINDOWS", "osVersionType": "Windows_10",
          "status": "Online", "isolated": False, "version": "23.1.162.1", "policyName": "Default",
          "groupName": "Workstations", "firstSeenTime": 1700000000000, "lastPylumInfoMsgUpdateTime": 1717240000000,
          "serialNumber": "VMware-42 1a", "preventionStatus": "ENABLED"}
QUERY = "/rest/sensors/query"


@pytest.fixture(scope="module")
def sim():
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=5, sizes={"cybereason": 25})).start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.reset("cybereason")
    yield


def connector(sim, tmp_path, creds=None, sleeps=None, **config):
    from connectors.cybereason.simulator import CybereasonSim

    return make(Cybereason, sim.base_url("cybereason"), creds or dict(CybereasonSim.default_credentials), tmp_path,
                sleep=sleeps, page_size=config.pop("page_size", 10), **config)


def stats(sim):
    return sim.vendor("cybereason").get_stats()


def live(sim):
    return {rid for rid, r in sim.truth("cybereason").items() if r["status"] != "Archived"}


def test_the_fact_sheets_sensor_normalizes_to_the_expected_fields():
    assert Cybereason.normalize(GOLDEN) == {
        "uid": GOLDEN["sensorId"], "hostname": "ws22.corp.example", "name": "ws22", "os_name": "WINDOWS",
        "os_version": "Windows_10", "type": None, "ips": ["10.1.2.22", "198.51.100.7"], "macs": [],
        "state": "online", "domain": "corp.example", "serial_number": "VMware-42 1a", "agent_version": "23.1.162.1",
        "groups": ["Workstations", "Default"], "first_seen_time": "2023-11-14T22:13:20Z",
        "last_seen_time": "2024-06-01T11:06:40Z", "modified_time": None}
    assert Asset.model_validate(Cybereason.normalize(GOLDEN)).hostname == "ws22.corp.example"


def test_the_normalizer_is_total():
    assert Cybereason.normalize({**GOLDEN, "isolated": True})["state"] == "isolated"
    assert Cybereason.normalize({**GOLDEN, "status": "Quarantined"})["state"] == "quarantined"  # a new status
    assert Cybereason.normalize({**GOLDEN, "status": ["Offline"]})["state"] == "offline"
    assert Cybereason.normalize({**GOLDEN, "firstSeenTime": "soon", "version": {"x": 1}})["first_seen_time"] is None
    bare = Cybereason.normalize({"sensorId": "s1"})
    assert bare["uid"] == "s1" and bare["hostname"] is None and bare["ips"] == [] and bare["state"] is None
    Asset.model_validate(bare)
    with pytest.raises(KeyError):
        Cybereason.normalize({"machineName": "no id"})


@pytest.mark.parametrize("size", [0, 1, 25])
def test_offset_is_a_page_number_and_archived_sensors_stay_out(sim, tmp_path, size):
    vendor = sim.vendor("cybereason")
    vendor.order[size:] = []
    conn = connector(sim, tmp_path)
    records, pages = drain(conn)
    assert {r["sensorId"] for r in records} == live(sim) and len(records) == len(live(sim))
    assert all(r["status"] != "Archived" for r in records)
    if size == 25:
        assert pages == stats(sim)["by_path"][QUERY] >= 2  # pages 0, 1, 2 of 10: row offsets would skip


def test_one_login_per_task_and_a_logout_at_its_end(sim, tmp_path):
    conn = connector(sim, tmp_path)
    drain(conn)
    assert stats(sim)["logins"] == 1 and stats(sim)["live_sessions"] == 1
    assert stats(sim)["by_path"].get("/login.html") == 1  # the login's 302 was not followed
    conn.close()
    assert stats(sim)["logouts"] == 1 and stats(sim)["live_sessions"] == 0
    conn.close()  # a second close has nothing to end
    assert stats(sim)["logouts"] == 1


def test_sessions_are_never_shared_between_tasks(sim, tmp_path):
    one, two = connector(sim, tmp_path), connector(sim, tmp_path)
    one.fetch_page(None, None)
    two.fetch_page(None, None)
    assert stats(sim)["logins"] == 2 and stats(sim)["live_sessions"] == 2
    one.close()
    two.fetch_page(None, None)  # the other task's logout does not end this one's session
    two.close()
    assert stats(sim)["logouts"] == 2 and stats(sim)["logins"] == 2


def test_a_session_that_dies_mid_sync_is_re_established_once(sim, tmp_path):
    sim.set_faults("cybereason", expire_after=2)  # the third page finds the login page
    conn = connector(sim, tmp_path)
    records, _ = drain(conn)
    assert {r["sensorId"] for r in records} == live(sim)
    assert stats(sim)["logins"] == 2
    conn.close()
    sim.reset("cybereason")
    sim.set_faults("cybereason", expire_after=1)  # the new session dies too: the error stands
    conn = connector(sim, tmp_path)
    with pytest.raises(AuthError, match="died again"):
        drain(conn)
    assert stats(sim)["logins"] == 2
    conn.close()
    assert stats(sim)["logouts"] == 1  # the live (second) session, never the dead first one twice


@pytest.mark.parametrize("knob, match", [(None, "'error'"), ("password_expired", "'reset'"),
                                         ("two_factor", "two-factor")])
def test_a_refused_login_is_an_auth_error(sim, tmp_path, knob, match):
    creds = {"username": "api-user@corp.example", "password": "wrong"} if knob is None else None
    if knob:
        sim.set_faults("cybereason", **{knob: True})
    conn = connector(sim, tmp_path, creds=creds)
    with pytest.raises(AuthError, match=match):
        conn.fetch_page(None, None)
    conn.close()
    assert stats(sim)["logouts"] == 0 and stats(sim)["by_path"].get(QUERY) is None


def test_429_is_waited_out(sim, tmp_path):
    sim.set_faults("cybereason", rate_limit_every=2, retry_after_seconds=1)
    sleeps = Sleeps()
    records, _ = drain(connector(sim, tmp_path, sleeps=sleeps))
    assert {r["sensorId"] for r in records} == live(sim) and sleeps
    sim.set_faults("cybereason", rate_limit_every=1)
    with pytest.raises(RateLimited):
        drain(connector(sim, tmp_path, sleeps=Sleeps()))


def test_no_server_side_cursor_every_sync_is_a_full_sweep(sim, tmp_path):
    assert Cybereason.cursor_field is None
    records, _ = drain(connector(sim, tmp_path, incremental=True), since="2024-06-01T00:00:00Z")
    assert {r["sensorId"] for r in records} == live(sim)


def test_a_failed_page_still_logs_out_through_the_fetch_stage(sim, make_connector):
    """The pipeline's fetch stage closes the task's connector in a `finally`: the vendor sees the logout."""
    import uuid

    from nexus_sync import pipeline

    row = make_connector(sim, "cybereason", page_size=10)
    hid = str(uuid.uuid4())
    started = pipeline.start(row.name, hid, "test")
    first = pipeline.fetch(hid, 0, None, started.since)
    assert first.next is not None and stats(sim)["logins"] == stats(sim)["logouts"] == 1
    sim.set_faults("cybereason", broken_paths=[QUERY])
    with pytest.raises(TransientError):
        pipeline.fetch(hid, 1, first.next, started.since)
    assert stats(sim)["by_status"].get("500") == 1
    assert stats(sim)["logins"] == stats(sim)["logouts"] == 2 and stats(sim)["live_sessions"] == 0
