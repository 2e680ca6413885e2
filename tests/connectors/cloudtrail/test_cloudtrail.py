"""CloudTrail LookupEvents: the fact sheet's record, a total normalizer, and against the simulator: pages with
NextToken under identical parameters, the delivery-lag overlap, 400 ThrottlingException, 400
UnrecognizedClientException, AssumeRole with an external id and keys renewed when they expire mid-sync."""
from __future__ import annotations

import time

import orjson
import pytest

from connectors.cloudtrail import CONNECTOR as CloudTrail
from connectors.cloudtrail import hooks
from nexus_sync.errors import AuthError
from nexus_sync.models import SecurityEvent
from nexus_sync.simulator import SimConfig, Simulator
from nexus_sync.simulator.aws import EXTERNAL_ID, ROLE_ARN
from tests.connectors.util import Sleeps, drain, make

INNER = {"eventVersion": "1.09", "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
         "eventTime": "2024-06-01T10:00:00Z", "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
         "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.9", "eventID": "2f1c3b4a-...",
         "recipientAccountId": "111122223333"}
EVENT = {"EventId": "2f1c3b4a-1111-2222-3333-444455556666", "EventName": "ConsoleLogin", "ReadOnly": "false",
         "EventTime": 1717236000.0, "EventSource": "signin.amazonaws.com", "Username": "alice",
         "AccessKeyId": "ASIAEXAMPLE", "Resources": [], "CloudTrailEvent": orjson.dumps(INNER).decode()}


def test_the_fact_sheets_event_normalizes_to_its_fields():
    data = SecurityEvent.model_validate(CloudTrail.normalize(EVENT))
    assert (data.uid, data.title, data.time) == (EVENT["EventId"], "ConsoleLogin (signin.amazonaws.com)",
                                                 "2024-06-01T10:00:00Z")
    assert (data.host, data.user, data.status, data.severity) == ("198.51.100.9", "alice", "SUCCESS", "low")


def test_the_normalizer_is_total():
    for inner in (None, "{not json", "[]", 42, {"eventTime": "2024-06-01T10:00:00Z"}):
        data = CloudTrail.normalize(dict(EVENT, CloudTrailEvent=inner))
        assert data["uid"] == EVENT["EventId"] and data["time"] == "2024-06-01T10:00:00Z" and data["host"] is None
    listed = CloudTrail.normalize(dict(EVENT, Username=["alice", "bob"], ReadOnly="maybe", EventTime=None))
    assert (listed["user"], listed["severity"], listed["time"]) == ("alice", "low", "2024-06-01T10:00:00Z")
    assert CloudTrail.normalize(dict(EVENT, ReadOnly="true"))["severity"] == "info"
    refused = dict(INNER, errorCode="AccessDenied")
    assert CloudTrail.normalize(dict(EVENT, CloudTrailEvent=orjson.dumps(refused).decode()))["status"] == "FAILURE"
    root = dict(INNER, userIdentity={"type": "Root", "principalId": "111122223333"})
    assert CloudTrail.normalize(dict(EVENT, CloudTrailEvent=orjson.dumps(root).decode(), Username=None))["severity"] \
        == "high"
    failed = dict(INNER, responseElements={"ConsoleLogin": "Failure"})
    assert CloudTrail.normalize(dict(EVENT, CloudTrailEvent=orjson.dumps(failed).decode()))["severity"] == "medium"


@pytest.fixture
def sim():
    with Simulator(SimConfig(seed=7, sizes={"cloudtrail": 25})) as s:
        yield s


def conn(sim, tmp_path, creds=None, sleep=None, **config):
    config = {"region": "us-east-1", "page_size": 10, **config}
    return make(CloudTrail, sim.base_url("cloudtrail"), creds or dict(sim.vendor("cloudtrail").default_credentials),
                tmp_path, sleep=sleep, **config)


def role(sim):
    return {"role_arn": ROLE_ARN, "external_id": EXTERNAL_ID, "sts_url": sim.base_url("cloudtrail") + "/sts"}


def test_pages_come_newest_first_and_next_token_goes_back_with_the_same_parameters(sim, tmp_path):
    records, pages = drain(conn(sim, tmp_path))
    times = [r["EventTime"] for r in records]
    assert pages == 3 and len(records) == 25 and times == sorted(times, reverse=True)
    assert {r["EventId"] for r in records} == set(sim.truth("cloudtrail"))


def test_an_empty_trail_is_one_empty_page(tmp_path):
    with Simulator(SimConfig(seed=7, sizes={"cloudtrail": 0})) as s:
        assert drain(conn(s, tmp_path)) == ([], 1)


def test_incremental_windows_start_early_and_catch_late_deliveries(sim, tmp_path):
    """StartTime is the cursor minus the delivery lag: an event that happened before the cursor but arrived
    after the last sync is listed; older events are not."""
    vendor = sim.vendor("cloudtrail")
    records, _ = drain(conn(sim, tmp_path))
    cursor = str(int(max(r["EventTime"] for r in records)))
    # happened 5 minutes before the newest event already synced, visible only now
    late = vendor.deliver_late(2, age_seconds=time.time() - (int(cursor) - 300))
    again, _ = drain(conn(sim, tmp_path), since=cursor)
    ids = {r["EventId"] for r in again}
    assert set(late) <= ids and all(vendor.truth()[i]["EventTime"] < int(cursor) for i in late)
    assert all(r["EventTime"] >= int(cursor) - hooks.LAG_SECONDS for r in again)
    assert len(again) < len(records) + 2


def test_throttling_is_a_400_that_is_waited_out(sim, tmp_path):
    sim.set_faults("cloudtrail", rate_limit_every=2)
    sleeps = Sleeps()
    records, _ = drain(conn(sim, tmp_path, sleep=sleeps))
    assert len(records) == 25 and sleeps and all(s >= 0.5 for s in sleeps)
    assert sim.stats("cloudtrail")["by_status"].get("400", 0) >= 1


def test_unknown_keys_are_an_auth_error_though_aws_says_400(sim, tmp_path):
    wrong = {"access_key_id": "AKIANOTKNOWN00000000", "secret_access_key": "x"}
    with pytest.raises(AuthError, match="UnrecognizedClientException"):
        drain(conn(sim, tmp_path, creds=wrong))
    forged = dict(sim.vendor("cloudtrail").default_credentials, secret_access_key="forged")
    with pytest.raises(AuthError, match="InvalidSignatureException"):
        drain(conn(sim, tmp_path, creds=forged))


def test_requests_are_signed_with_the_assumed_roles_keys(sim, tmp_path):
    vendor = sim.vendor("cloudtrail")
    vendor.require_role = True  # the account grants access only through the role
    records, _ = drain(conn(sim, tmp_path, **role(sim)))
    assert len(records) == 25 and vendor.assumed
    assert set(vendor.signed_by) <= set(vendor.assumed) and all(k.startswith("ASIA") for k in vendor.signed_by)


def test_a_wrong_external_id_is_refused_by_sts(sim, tmp_path):
    with pytest.raises(AuthError, match="AccessDenied"):
        drain(conn(sim, tmp_path, **dict(role(sim), external_id="not-the-agreed-id")))
    with pytest.raises(AuthError, match="AccessDenied"):
        drain(conn(sim, tmp_path, **dict(role(sim), external_id=None)))
    assert not sim.vendor("cloudtrail").assumed


def test_assumed_keys_are_renewed_when_they_expire_mid_sync(tmp_path):
    """The simulator's STS issues keys that live 2 s and refuses them after (ExpiredTokenException): a sync
    that outlives them keeps going on fresh keys, renewed by botocore's RefreshableCredentials."""
    with Simulator(SimConfig(seed=7, sizes={"cloudtrail": 25}, token_ttl=2)) as s:
        vendor = s.vendor("cloudtrail")
        vendor.require_role = True
        c = conn(s, tmp_path, **role(s))
        page = c.fetch_page(None, None)
        first = set(vendor.signed_by)
        time.sleep(2.2)  # every key issued so far has expired
        assert all(vendor.sessions[k][2] <= time.time() for k in first)
        rest = c.fetch_page(page.next, None)
        assert len(page.records) + len(rest.records) == 20
        assert set(vendor.signed_by) - first and len(vendor.assumed) >= 2
        assert s.stats("cloudtrail")["by_status"].get("400", 0) == 0  # no request went out on expired keys


@pytest.fixture
def no_ambient_aws(monkeypatch, tmp_path):
    """botocore's chain sees only what a test gives it (no host keys, files or instance metadata)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    return monkeypatch


def test_the_chain_reads_the_environment(sim, tmp_path, no_ambient_aws):
    keys = sim.vendor("cloudtrail").default_credentials
    no_ambient_aws.setenv("AWS_ACCESS_KEY_ID", keys["access_key_id"])
    no_ambient_aws.setenv("AWS_SECRET_ACCESS_KEY", keys["secret_access_key"])
    records, _ = drain(conn(sim, tmp_path, creds={"unused": "x"}, aws_credentials="chain"))
    assert len(records) == 25


def test_the_chain_reads_a_shared_profile_and_assumes_the_role(sim, tmp_path, no_ambient_aws):
    keys = sim.vendor("cloudtrail").default_credentials
    (tmp_path / "aws-credentials").write_text(f"[reader]\naws_access_key_id = {keys['access_key_id']}\n"
                                              f"aws_secret_access_key = {keys['secret_access_key']}\n")
    vendor = sim.vendor("cloudtrail")
    vendor.require_role = True
    records, _ = drain(conn(sim, tmp_path, creds={"unused": "x"}, aws_credentials="chain", aws_profile="reader",
                            **role(sim)))
    assert len(records) == 25 and set(vendor.signed_by) <= set(vendor.assumed)
    from nexus_sync.errors import ConfigError

    with pytest.raises(ConfigError, match="ProfileNotFound"):
        drain(conn(sim, tmp_path, creds={"unused": "x"}, aws_credentials="chain", aws_profile="nobody"))
