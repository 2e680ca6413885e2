"""AWS IAM users: the fact sheet's record, the credential report (base64 CSV, sentinels, the root row), and
against the simulator: the report generated as a waiting page, Marker paging that trusts IsTruncated over
short pages, 400 Throttling in XML, 403 InvalidClientTokenId, AssumeRole, and no incremental cursor."""
from __future__ import annotations

import base64

import pytest

from connectors.awsiam import CONNECTOR as AwsIam
from connectors.awsiam import report
from connectors.machinery import MarkerPaging
from nexus_sync.errors import AuthError, VendorDataError
from nexus_sync.models import User
from nexus_sync.simulator import SimConfig, Simulator
from nexus_sync.simulator.aws import ACCOUNT, EXTERNAL_ID, ROLE_ARN
from tests.connectors.util import Sleeps, drain, make

USER = {"Path": "/", "UserName": "alice", "UserId": "AIDAEXAMPLEALICE12345",
        "Arn": "arn:aws:iam::111122223333:user/alice", "CreateDate": "2022-03-01T12:00:00Z",
        "PasswordLastUsed": "2024-06-01T08:00:00Z"}
HEADER = ("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
          "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
          "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
          "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,"
          "access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated")
CSV = (HEADER + "\n<root_account>,arn:aws:iam::111122223333:root,2021-01-01T00:00:00+00:00,not_supported,"
       "2024-05-01T00:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,"
       "false,N/A,false,N/A\nalice,arn:aws:iam::111122223333:user/alice,2022-03-01T12:00:00+00:00,true,"
       "2024-06-01T08:00:00+00:00,2022-03-01T12:00:00+00:00,N/A,false,true,2022-03-01T12:00:00+00:00,"
       "2024-06-02T00:00:00+00:00,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n")


def test_the_fact_sheets_user_normalizes_to_its_fields():
    data = User.model_validate(AwsIam.normalize(USER))
    assert (data.uid, data.username, data.email) == (USER["UserId"], "alice", None)  # IAM has no mail: none made up
    assert (data.created_time, data.last_login_time) == ("2022-03-01T12:00:00Z", "2024-06-01T08:00:00Z")
    assert (data.status, data.mfa) == (None, None)  # posture comes with the credential report only


def test_the_credential_report_is_base64_csv_with_sentinels_and_a_root_row():
    rows = report.rows(base64.b64encode(CSV.encode()).decode())
    alice = rows[USER["Arn"]]
    data = User.model_validate(AwsIam.normalize(dict(USER, CredentialReport=alice)))
    assert (data.status, data.mfa) == ("ACTIVE", False)
    root = rows["arn:aws:iam::111122223333:root"]
    assert report.value(root, "password_enabled") is None and report.flag(root, "mfa_active") is True
    with pytest.raises(VendorDataError):
        report.rows("not base64!")


def test_the_normalizer_is_total():
    never = {k: v for k, v in USER.items() if k != "PasswordLastUsed"}  # absent when never used
    assert AwsIam.normalize(never)["last_login_time"] is None
    odd = dict(USER, UserName="bob@example.com", CredentialReport={"mfa_active": "maybe", "password_enabled": "N/A"})
    data = User.model_validate(AwsIam.normalize(odd))
    assert (data.email, data.mfa, data.status) == ("bob@example.com", None, "INACTIVE")
    assert AwsIam.normalize(dict(USER, CredentialReport=["not", "a", "row"], Arn=None))["email"] is None


def test_marker_paging_follows_is_truncated_only():
    paging = MarkerPaging(marker="R.Marker", truncated="R.IsTruncated")
    assert paging.next(None, None, {"R": {"IsTruncated": "false", "Marker": "m"}}, [1], 10, str) is None
    assert paging.next(None, None, {"R": {"IsTruncated": "true", "Marker": "m"}}, [], 10, str) == {"marker": "m"}
    with pytest.raises(VendorDataError):
        paging.next(None, None, {"R": {"IsTruncated": "true"}}, [1], 10, str)
    with pytest.raises(VendorDataError):
        paging.next({"marker": "m"}, None, {"R": {"IsTruncated": "true", "Marker": "m"}}, [1], 10, str)


@pytest.fixture
def sim():
    with Simulator(SimConfig(seed=11, sizes={"awsiam": 25})) as s:
        yield s


def conn(sim, tmp_path, creds=None, sleep=None, **config):
    return make(AwsIam, sim.base_url("awsiam"), creds or dict(sim.vendor("awsiam").default_credentials), tmp_path,
                sleep=sleep, **{"page_size": 10, **config})


def test_report_then_short_pages_while_truncated_then_the_root_user(sim, tmp_path):
    waits: list[float] = []
    records, pages = drain(conn(sim, tmp_path), waits=waits)
    assert waits == [2.0, 2.0]  # STARTED, INPROGRESS: the page asked to be fetched again, no worker waited
    assert pages == 4  # 10, 5, 5, 5: short pages while IsTruncated; the root user comes with the last
    assert {r["UserId"] for r in records} == set(sim.truth("awsiam")) | {ACCOUNT}
    assert all(r["CredentialReport"]["arn"] == r["Arn"] for r in records)
    root = next(r for r in records if r["UserId"] == ACCOUNT)
    assert User.model_validate(AwsIam.normalize(root)).username == "root"


def test_an_empty_account_still_has_its_root_user(tmp_path):
    with Simulator(SimConfig(seed=11, sizes={"awsiam": 0})) as s:
        records, _ = drain(conn(s, tmp_path))
    assert [r["UserId"] for r in records] == [ACCOUNT]


def test_there_is_no_incremental_cursor_every_sync_is_a_full_sweep(sim, tmp_path):
    assert AwsIam.cursor_field is None
    full, _ = drain(conn(sim, tmp_path))
    again, _ = drain(conn(sim, tmp_path), since="2024-06-01T00:00:00Z")
    assert len(again) == len(full) == 26


def test_a_renamed_user_keeps_its_row(sim, tmp_path):
    c = conn(sim, tmp_path)
    before = {c.source_id(r): r["Arn"] for r in drain(c)[0]}
    changed, _ = sim.vendor("awsiam").mutate(0.2)
    after = {c.source_id(r): r["Arn"] for r in drain(c)[0]}
    assert set(after) == set(before) and all(after[i] != before[i] for i in changed)


def test_throttling_is_a_400_in_xml_that_is_waited_out(sim, tmp_path):
    sim.set_faults("awsiam", rate_limit_every=2)
    sleeps = Sleeps()
    records, _ = drain(conn(sim, tmp_path, sleep=sleeps))
    assert len(records) == 26 and sleeps and all(s >= 0.5 for s in sleeps)


def test_unknown_keys_are_an_auth_error(sim, tmp_path):
    wrong = {"access_key_id": "AKIANOTKNOWN00000000", "secret_access_key": "x"}
    with pytest.raises(AuthError, match="403"):
        drain(conn(sim, tmp_path, creds=wrong))


def test_assume_role_signs_for_the_global_endpoint(sim, tmp_path):
    vendor = sim.vendor("awsiam")
    vendor.require_role = True
    records, _ = drain(conn(sim, tmp_path, role_arn=ROLE_ARN, external_id=EXTERNAL_ID,
                            sts_url=sim.base_url("awsiam") + "/sts"))
    assert len(records) == 26 and set(vendor.signed_by) <= set(vendor.assumed)
