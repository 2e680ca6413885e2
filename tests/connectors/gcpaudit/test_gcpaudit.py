"""GCP Cloud Audit Logs: the fact sheet's entry (golden), a total normalizer, and against the simulator
entries:list paging (pageToken in the POST body), the header-less 429 RESOURCE_EXHAUSTED, and a nanosecond
receiveTimestamp cursor that neither re-reads nor skips an entry, late arrivals included."""
from __future__ import annotations

import pytest

from connectors import cursors
from connectors.gcpaudit import CONNECTOR as Audit
from connectors.gcpaudit.simulator import _entry
from connectors.machinery.auth.google import GoogleAuth
from nexus_sync.errors import AuthError, RateLimited, Rule, rule_for_status
from nexus_sync.http import wait_from_headers
from nexus_sync.models import SecurityEvent
from nexus_sync.simulator import SimConfig, Simulator, data
from nexus_sync.simulator.google import SIM_CREDENTIALS
from tests.connectors.gcpaudit import PROJECTS, expected_ids
from tests.connectors.util import Sleeps, drain, make

GOLDEN = {"insertId": "-x7k2l3e4abc", "logName": "projects/p1/logs/cloudaudit.googleapis.com%2Factivity",
          "resource": {"type": "gce_instance", "labels": {"project_id": "p1", "zone": "us-central1-a",
                                                          "instance_id": "987"}},
          "timestamp": "2024-06-01T10:00:00.123456Z", "receiveTimestamp": "2024-06-01T10:00:01.5Z",
          "severity": "NOTICE",
          "protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                           "serviceName": "compute.googleapis.com", "methodName": "v1.compute.instances.setMetadata",
                           "resourceName": "projects/p1/zones/us-central1-a/instances/vm-1",
                           "authenticationInfo": {"principalEmail": "ops@example.com"},
                           "requestMetadata": {"callerIp": "203.0.113.5"}}}


@pytest.fixture(scope="module")
def sim():
    s = Simulator(SimConfig(seed=5, sizes={"gcpaudit": 25})).start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.reset("gcpaudit")
    GoogleAuth._creds.clear()
    yield


def connector(sim, tmp_path, sleeps=None, **config):
    return make(Audit, sim.base_url("gcpaudit"), dict(SIM_CREDENTIALS), tmp_path, sleep=sleeps, page_size=10,
                token_url=f"{sim.base_url('gcpaudit')}/token", resource_names=PROJECTS, **config)


def test_the_fact_sheets_entry_normalizes_to_the_expected_fields():
    assert Audit.normalize(GOLDEN) == {
        "uid": "projects/p1/logs/cloudaudit.googleapis.com%2Factivity|2024-06-01T10:00:00.123456000Z|-x7k2l3e4abc",
        "title": "compute.googleapis.com v1.compute.instances.setMetadata", "severity": "low",
        "time": "2024-06-01T10:00:00.123456Z", "host": "203.0.113.5", "user": "ops@example.com", "status": "OK"}
    assert SecurityEvent.model_validate(Audit.normalize(GOLDEN)).severity_label == "low"


def test_the_normalizer_is_total():
    assert Audit.normalize({**GOLDEN, "severity": 500})["severity"] == "high"  # LogSeverity as a number
    assert Audit.normalize({**GOLDEN, "severity": "SEVERE"})["severity"] == "medium"
    assert Audit.normalize({k: v for k, v in GOLDEN.items() if k != "severity"})["severity"] == "info"
    denied = {**GOLDEN, "protoPayload": {**GOLDEN["protoPayload"], "status": {"code": 7, "message": "denied"}}}
    assert Audit.normalize(denied)["status"] == "PERMISSION_DENIED"
    odd = {**GOLDEN, "protoPayload": {**GOLDEN["protoPayload"], "status": {"code": 99}}}
    assert Audit.normalize(odd)["status"] == "UNKNOWN"
    syslog = {"insertId": "a1", "logName": "projects/p1/logs/syslog", "timestamp": "2024-06-01T10:00:00Z",
              "textPayload": "sshd: Accepted publickey"}
    text = SecurityEvent.model_validate(Audit.normalize(syslog))
    assert (text.title, text.status, text.host, text.user) == ("syslog", None, None, None)
    listed = {**GOLDEN, "protoPayload": {**GOLDEN["protoPayload"], "methodName": ["a.b", "c.d"]}}
    assert Audit.normalize(listed)["title"] == "compute.googleapis.com a.b"


def test_a_row_is_googles_dedupe_key(tmp_path):
    conn = make(Audit, "https://logging.googleapis.com", dict(SIM_CREDENTIALS), tmp_path, resource_names=PROJECTS)
    assert conn.source_id(GOLDEN) == Audit.normalize(GOLDEN)["uid"]
    assert conn.source_id({**GOLDEN, "logName": "projects/p1/logs/cloudaudit.googleapis.com%2Fdata_access"}) \
        != conn.source_id(GOLDEN)


@pytest.mark.parametrize("size", [0, 1, 25])
def test_pages_with_the_token_in_the_body_cover_every_audit_entry(sim, tmp_path, size):
    vendor = sim.vendor("gcpaudit")
    vendor.order[size:] = []
    conn = connector(sim, tmp_path)
    records, pages = drain(conn)
    ids = [conn.source_id(r) for r in records]
    assert len(ids) == len(set(ids)) and set(ids) == expected_ids(sim.truth("gcpaudit"))
    assert pages == max(1, -(-len(ids) // 10))
    stamps = [cursors.canonical(r["timestamp"], "iso_ns") for r in records]
    assert stamps == sorted(stamps)  # orderBy timestamp asc


def test_a_wrong_key_is_an_auth_error(sim, tmp_path):
    conn = make(Audit, sim.base_url("gcpaudit"), {"service_account_json": "wrong"}, tmp_path,
                token_url=f"{sim.base_url('gcpaudit')}/token", resource_names=PROJECTS)
    with pytest.raises(AuthError):
        drain(conn)


def test_the_header_less_429_is_the_error_tables_default_backoff(sim, tmp_path):
    assert rule_for_status(429) == Rule(rule_for_status(429).action, "rate_limited")
    assert wait_from_headers({}) is None  # nothing to read: the HTTP client backs off 1, 2, 4 s
    sim.set_faults("gcpaudit", rate_limit_every=2)
    sleeps = Sleeps()
    conn = connector(sim, tmp_path, sleeps=sleeps)
    records, _ = drain(conn)
    assert {conn.source_id(r) for r in records} == expected_ids(sim.truth("gcpaudit")) and set(sleeps) == {1.0}
    sim.set_faults("gcpaudit", rate_limit_every=1)
    with pytest.raises(RateLimited) as caught:
        drain(connector(sim, tmp_path, sleeps=Sleeps()))
    assert caught.value.wait_seconds == 8.0


def test_a_nanosecond_cursor_neither_re_reads_nor_skips(sim, tmp_path):
    rng = data.vendor_rng(1, "gcpaudit-test")
    at = "2024-06-01T10:00:00.1234567{}Z"
    first, second = (dict(_entry(rng, 900 + i), receiveTimestamp=at.format(n), insertId=f"ns-{n}",
                          logName="projects/nexus-prod-1/logs/cloudaudit.googleapis.com%2Factivity")
                     for i, n in enumerate(("89", "90")))
    sim.vendor("gcpaudit").order[:] = []
    sim.vendor("gcpaudit").add_entries([first, second])
    conn = connector(sim, tmp_path, incremental=True)
    assert conn.cursor_value(first) == "2024-06-01T10:00:00.123456789Z"  # all nine digits kept
    got, _ = drain(conn, since=conn.cursor_value(first))
    assert [r["insertId"] for r in got] == ["ns-90"]  # ...789 not read again, ...790 not skipped
    assert drain(conn, since=conn.cursor_value(second))[0] == []
    before = conn.cursor_value({"receiveTimestamp": "2024-06-01T10:00:00.123456788Z"})
    assert sorted(r["insertId"] for r in drain(conn, since=before)[0]) == ["ns-89", "ns-90"]


def test_an_entry_that_arrives_late_is_read_by_the_next_sync(sim, tmp_path):
    conn = connector(sim, tmp_path, incremental=True)
    records, _ = drain(conn)
    cursor = max(conn.cursor_value(r) for r in records)
    late = sim.vendor("gcpaudit").arrive_late(3, received="2024-06-02T00:00:00.000000001Z")
    assert all(e["timestamp"] < e["receiveTimestamp"] and cursors.canonical(e["timestamp"], "iso_ns") < cursor
               for e in late)  # stamped before what the last sync saw
    got, _ = drain(conn, since=cursor)
    assert {conn.source_id(r) for r in got} == {conn.source_id(e) for e in late
                                                if "cloudaudit" in e["logName"]}
