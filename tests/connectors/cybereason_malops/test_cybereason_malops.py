"""Cybereason Malops: a MalopInboxModel record (golden, shaped from the SDK's schema), a total normalizer, and
against the simulator: empty / one / many, the epoch-ms window sliding to now (window 2 starts where window 1
ended), the owned console session shared with the sensors type (one login per task, re-established once when it
dies as a 302 to the login page, always logged out — also when a sync fails), a refused login, 429, and the
incremental window starting at the lastUpdateTime cursor."""
from __future__ import annotations

import pytest

from connectors.cybereason import CONNECTOR as Sensors
from connectors.cybereason_malops import CONNECTOR as Malops
from connectors.cybereason_malops.simulator import CybereasonMalopsSim
from nexus_sync.errors import AuthError, RateLimited, TransientError
from nexus_sync.models import Incident
from tests.connectors.cybereason_malops import config as base_config
from tests.connectors.util import Sleeps, drain, make

VENDOR = "cybereason_malops"
INBOX = "/rest/detection/inbox"
# a MalopInboxModel as forensic-security/cybereason tests/schemas/malops.yaml describes it
GOLDEN = {
    "@class": ".MalopInboxModel", "guid": "11.-61542876529xK", "displayName": "mimikatz.exe",
    "primaryRootCauseName": "mimikatz.exe", "rootCauseElementType": "Process", "rootCauseElementNamesCount": 1,
    "rootCauseElementHashes": "", "malopDetectionType": "CREDENTIAL_THEFT", "malopType": "CREDENTIAL_THEFT",
    "detectionTypes": ["CREDENTIAL_THEFT"], "detectionEngines": ["EDR"], "decisionStatuses": [], "edr": True,
    "empty": False, "escalated": True, "closed": False, "closerName": None, "containers": [],
    "creationTime": 1717000000000, "lastUpdateTime": 1717240000000, "malopCloseTime": None,
    "group": "00000000-0000-0000-0000-000000000000", "iconBase64": "iVBORw0KGgo=", "labels": ["Investigating"],
    "machines": [{"@class": ".MachineInboxModel", "guid": "-1845153266.11987", "displayName": "ws22",
                  "osType": "WINDOWS", "connected": True, "isolated": False, "lastConnected": 1717240000000,
                  "empty": False}],
    "users": [{"admin": False, "displayName": "corp\\alice", "domainUser": True, "guid": "AAAAAAAAAAAAAAAA",
               "localSystem": False}],
    "malopPriority": "HIGH", "priority": "HIGH", "malopSeverity": "High", "severity": "High",
    "malopStatus": "OPEN", "status": "Active"}


@pytest.fixture(scope="module")
def sim():
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=5, sizes={VENDOR: 25})).start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.reset(VENDOR)
    yield


def connector(sim, tmp_path, creds=None, sleeps=None, **config):
    return make(Malops, sim.base_url(VENDOR), creds or dict(CybereasonMalopsSim.default_credentials), tmp_path,
                sleep=sleeps, **{**base_config(sim), **config})


def stats(sim):
    return sim.vendor(VENDOR).get_stats()


def test_a_malop_normalizes_to_the_expected_fields():
    assert Malops.normalize(GOLDEN) == {
        "uid": "11.-61542876529xK", "title": "mimikatz.exe", "severity": "high", "time": "2024-05-29T16:26:40Z",
        "status": "active", "description": "CREDENTIAL_THEFT — root cause mimikatz.exe",
        "tags": ["type:CREDENTIAL_THEFT", "engine:EDR", "label:Investigating", "machine:ws22", "user:corp\\alice",
                 "escalated"]}
    assert Incident.model_validate(Malops.normalize(GOLDEN)).severity == "high"


def test_the_normalizer_is_total():
    assert Malops.normalize({**GOLDEN, "severity": ""})["severity"] == "high"  # malopSeverity then
    assert Malops.normalize({**GOLDEN, "severity": "", "malopSeverity": ""})["severity"] == "medium"
    assert Malops.normalize({**GOLDEN, "severity": "Catastrophic"})["severity"] == "medium"
    assert Malops.normalize({**GOLDEN, "severity": ["Low"]})["severity"] == "low"
    odd = Malops.normalize({**GOLDEN, "creationTime": "soon", "machines": "ws22", "labels": None, "users": [1]})
    assert odd["time"] == "2024-06-01T11:06:40Z" and odd["tags"] == ["type:CREDENTIAL_THEFT", "engine:EDR",
                                                                     "escalated"]
    assert Malops.normalize({**GOLDEN, "status": None, "closed": True})["status"] == "closed"
    bare = Malops.normalize({"guid": "g1"})
    assert bare == {"uid": "g1", "title": "Cybereason Malop g1", "severity": "medium", "time": "1970-01-01T00:00:00Z",
                    "status": None, "description": None, "tags": []}
    Incident.model_validate(bare)
    with pytest.raises(KeyError):
        Malops.normalize({"displayName": "no guid"})


def test_the_session_is_the_sensors_one_declared_once():
    assert Malops.decl.auth is Sensors.decl.auth


@pytest.mark.parametrize("size", [0, 1, 25])
def test_every_malop_once(sim, tmp_path, size):
    sim.vendor(VENDOR).order[size:] = []
    records, pages = drain(connector(sim, tmp_path))
    assert sorted(r["guid"] for r in records) == sorted(sim.truth(VENDOR))
    assert pages == stats(sim)["by_path"][INBOX] >= 2  # year-long windows from 2024-03-01 to now


def test_window_two_starts_after_window_one(sim, tmp_path):
    conn = connector(sim, tmp_path, window_hours=24 * 30)
    one = conn.fetch_page(None, None)
    two = conn.fetch_page(one.next, None)
    assert two.next["start"] == one.next["start"] + 30 * 86_400_000 and two.next["stop"] == one.next["stop"]
    assert one.records and two.records and not {r["guid"] for r in one.records} & {r["guid"] for r in two.records}
    assert all(r["lastUpdateTime"] < one.next["start"] <= s["lastUpdateTime"] < two.next["start"]
               for r in one.records for s in two.records)
    records, _ = drain(connector(sim, tmp_path, window_hours=24 * 30))
    assert sorted(r["guid"] for r in records) == sorted(sim.truth(VENDOR))


def test_one_login_per_task_and_a_logout_at_its_end(sim, tmp_path):
    conn = connector(sim, tmp_path)
    drain(conn)
    assert stats(sim)["logins"] == 1 and stats(sim)["live_sessions"] == 1
    conn.close()
    assert stats(sim)["logouts"] == 1 and stats(sim)["live_sessions"] == 0


def test_a_session_that_dies_mid_sync_is_re_established_once(sim, tmp_path):
    sim.set_faults(VENDOR, expire_after=2)  # the third (year-long) window finds the login page
    conn = connector(sim, tmp_path)
    records, pages = drain(conn)
    assert pages == 3
    assert sorted(r["guid"] for r in records) == sorted(sim.truth(VENDOR)) and stats(sim)["logins"] == 2
    conn.close()
    sim.reset(VENDOR)
    sim.set_faults(VENDOR, expire_after=1)  # the new session dies too: the error stands
    conn = connector(sim, tmp_path)
    with pytest.raises(AuthError, match="died again"):
        drain(conn)
    conn.close()
    assert stats(sim)["logins"] == 2 and stats(sim)["logouts"] == 1  # the live one, never the dead one


def test_a_refused_login_is_an_auth_error(sim, tmp_path):
    conn = connector(sim, tmp_path, creds={"username": "api-user@corp.example", "password": "wrong"})
    with pytest.raises(AuthError, match="'error'"):
        conn.fetch_page(None, None)
    conn.close()
    assert stats(sim)["logouts"] == 0 and stats(sim)["by_path"].get(INBOX) is None


def test_429_is_waited_out(sim, tmp_path):
    sim.set_faults(VENDOR, rate_limit_every=2, retry_after_seconds=1)
    sleeps = Sleeps()
    records, _ = drain(connector(sim, tmp_path, sleeps=sleeps))
    assert sorted(r["guid"] for r in records) == sorted(sim.truth(VENDOR)) and sleeps
    sim.set_faults(VENDOR, rate_limit_every=1)
    with pytest.raises(RateLimited):
        drain(connector(sim, tmp_path, sleeps=Sleeps()))


def test_incremental_starts_at_the_last_update_cursor(sim, tmp_path):
    records, _ = drain(connector(sim, tmp_path))
    mark = max(r["lastUpdateTime"] for r in records)
    changed = set(sim.mutate(VENDOR, 0.2))
    assert changed
    conn = connector(sim, tmp_path, incremental=True)
    first = conn.fetch_page(None, str(mark))
    assert first.next is None or first.next["start"] > mark
    again, _ = drain(connector(sim, tmp_path, incremental=True), since=str(mark))
    newest = {r["guid"] for r in records if r["lastUpdateTime"] == mark}  # its own millisecond is read again
    assert {r["guid"] for r in again} == changed | newest


def test_a_failed_sync_still_logs_out_through_the_fetch_stage(sim, make_connector):
    """The pipeline's fetch stage closes the task's connector in a `finally`: the vendor sees the logout."""
    import uuid

    from nexus_sync import pipeline

    row = make_connector(sim, VENDOR, window_hours=24 * 30)
    hid = str(uuid.uuid4())
    started = pipeline.start(row.name, hid, "test")
    first = pipeline.fetch(hid, 0, None, started.since)
    assert first.next is not None and stats(sim)["logins"] == stats(sim)["logouts"] == 1
    sim.set_faults(VENDOR, broken_paths=[INBOX])
    with pytest.raises(TransientError):
        pipeline.fetch(hid, 1, first.next, started.since)
    assert stats(sim)["by_status"].get("500") == 1
    assert stats(sim)["logins"] == stats(sim)["logouts"] == 2 and stats(sim)["live_sessions"] == 0
