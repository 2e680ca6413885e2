"""Security Hub findings: SigV4 signing, NextToken in the body, ASFF mapping (RecordState, Workflow.Status),
rows keyed by Id with ProductArn; archiving through the pipeline."""
from __future__ import annotations

import json
import re

import pytest
import responses

from connectors.securityhub import CONNECTOR as SecurityHub
from nexus_sync.errors import AuthError
from nexus_sync.models import Vulnerability
from tests.connectors.util import Sleeps, drain, make

BASE = "https://securityhub.us-east-1.amazonaws.com"
CREDS = {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "secret"}
FINDING = {"SchemaVersion": "2018-10-08", "Id": "arn:aws:securityhub:us-east-1:111122223333:subscription/x/finding/abc",
           "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub", "GeneratorId": "security-control/EC2.19",
           "AwsAccountId": "111122223333", "Region": "us-east-1", "CreatedAt": "2024-05-01T10:00:00.000Z",
           "UpdatedAt": "2024-06-01T10:00:00.000Z", "Title": "Security groups should not allow unrestricted access",
           "Description": "...", "Severity": {"Label": "HIGH", "Normalized": 70}, "Workflow": {"Status": "NEW"},
           "RecordState": "ACTIVE", "Resources": [{"Type": "AwsEc2SecurityGroup", "Region": "us-east-1",
                                                   "Id": "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0abc"}]}
SIGV4 = re.compile(r"^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/us-east-1/securityhub/aws4_request, "
                   r"SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$")


def test_control_finding_uses_its_id_as_cve_and_the_first_resource_as_asset():
    data = Vulnerability.model_validate(SecurityHub.normalize(FINDING))
    assert data.cve == FINDING["Id"] and data.asset_uid.endswith("sg-0abc") and data.severity == "high"
    assert data.status == "NEW" and data.first_seen_time == "2024-05-01T10:00:00Z"


def test_inspector_finding_takes_the_cve_and_cvss():
    raw = dict(FINDING, Vulnerabilities=[{"Id": "CVE-2024-3094", "Cvss": [{"BaseScore": 10.0}]}],
               Severity={"Label": "CRITICAL"})
    data = Vulnerability.model_validate(SecurityHub.normalize(raw))
    assert (data.cve, data.cvss, data.severity) == ("CVE-2024-3094", 10.0, "critical")


def test_an_archived_finding_is_archived_whatever_its_workflow_said():
    """RecordState ARCHIVED (resource deleted, or archived by the product) closes the finding."""
    for workflow in ("NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"):
        active = SecurityHub.normalize(dict(FINDING, Workflow={"Status": workflow}))
        archived = SecurityHub.normalize(dict(FINDING, Workflow={"Status": workflow}, RecordState="ARCHIVED"))
        assert (active["status"], archived["status"]) == (workflow, "ARCHIVED")


def test_workflow_status_is_total():
    assert SecurityHub.normalize(dict(FINDING, Workflow={"Status": "ESCALATED"}))["status"] == "UNKNOWN"
    assert SecurityHub.normalize({k: v for k, v in FINDING.items() if k != "Workflow"})["status"] is None
    assert SecurityHub.normalize(dict(FINDING, Workflow="NEW"))["status"] is None


def test_a_row_is_keyed_by_id_with_product_arn(tmp_path):
    conn = make(SecurityHub, BASE, CREDS, tmp_path, region="us-east-1")
    assert conn.source_id(FINDING) == f"{FINDING['Id']}|{FINDING['ProductArn']}"


def test_a_new_observation_alone_is_not_a_change():
    """LastObservedAt and ProcessedAt (when Security Hub received the finding) are heartbeats; UpdatedAt, the
    provider's modification time, is not."""
    from nexus_sync.models import content_hash

    def decided(raw):
        return content_hash(SecurityHub.normalize(raw), raw, SecurityHub.volatile_fields)

    seen = dict(FINDING, LastObservedAt="2024-06-01T10:00:00.000Z", ProcessedAt="2024-06-01T10:00:05.000Z")
    again = dict(seen, LastObservedAt="2024-06-02T10:00:00.000Z", ProcessedAt="2024-06-02T10:00:05.000Z")
    assert decided(again) == decided(seen)
    assert decided(dict(again, UpdatedAt="2024-06-02T10:00:00.000Z")) != decided(seen)


def test_a_finding_without_resources_is_invalid():
    with pytest.raises(KeyError):
        SecurityHub.normalize({k: v for k, v in FINDING.items() if k != "Resources"})


@responses.activate
def test_requests_are_sigv4_signed_and_page_2_sends_next_token_in_the_body(tmp_path):
    responses.add(responses.POST, f"{BASE}/findings", json={"Findings": [FINDING], "NextToken": "tok-2"})
    responses.add(responses.POST, f"{BASE}/findings", json={"Findings": [dict(FINDING, Id="b")]})
    records, pages = drain(make(SecurityHub, BASE, CREDS, tmp_path, region="us-east-1", page_size=1),
                           since="2024-05-01T00:00:00Z")
    assert [r["Id"] for r in records] == [FINDING["Id"], "b"] and pages == 2
    first, second = (c.request for c in responses.calls)
    assert SIGV4.match(first.headers["Authorization"]) and first.headers["X-Amz-Date"]
    assert json.loads(first.body) == {"MaxResults": 1, "Filters": {"UpdatedAt": [{"Start": "2024-05-01T00:00:00Z"}]}}
    assert json.loads(second.body)["NextToken"] == "tok-2"
    assert first.headers["Authorization"] != second.headers["Authorization"]  # the body is signed


@responses.activate
def test_limit_exceeded_is_backed_off(tmp_path):
    responses.add(responses.POST, f"{BASE}/findings", status=429, headers={"x-amzn-ErrorType": "LimitExceededException"},
                  json={"Code": "LimitExceededException", "Message": "Rate exceeded"})
    responses.add(responses.POST, f"{BASE}/findings", json={"Findings": [FINDING]})
    sleeps = Sleeps()
    records, _ = drain(make(SecurityHub, BASE, CREDS, tmp_path, region="us-east-1", sleep=sleeps))
    assert len(records) == 1 and len(sleeps) == 1 and sleeps[0] >= 0.5


def test_simulator_recomputes_the_signature(tmp_path):
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=5, sizes={"securityhub": 3})).start()
    try:
        good = dict(s.vendor("securityhub").default_credentials)
        records, _ = drain(make(SecurityHub, s.base_url("securityhub"), good, tmp_path, region="us-east-1"))
        assert len(records) == 3
        forged = {**good, "secret_access_key": "not-the-secret"}  # right key id, wrong signature
        with pytest.raises(AuthError, match="403"):
            drain(make(SecurityHub, s.base_url("securityhub"), forged, tmp_path, region="us-east-1"))
        with pytest.raises(AuthError):  # signed for another region
            drain(make(SecurityHub, s.base_url("securityhub"), good, tmp_path, region="eu-west-1"))
        assert s.stats("securityhub")["by_status"].get("403") == 4
    finally:
        s.stop()


def test_archiving_13_findings_updates_13_rows_to_archived(make_connector):
    """Fidelity #11: a change that only archives a finding is a change, and the row says ARCHIVED."""
    from nexus_sync.simulator import SimConfig, Simulator
    from tests.pipeline.helpers import run_inline

    with Simulator(SimConfig(seed=31, sizes={"securityhub": 60})) as sim:
        vendor = sim.vendor("securityhub")
        with vendor.lock:  # archived ones come from mutations only: start all ACTIVE
            assert all(r["RecordState"] == "ACTIVE" for r in vendor.records.values())
        conn = make_connector(sim, "securityhub", page_size=20)
        run_inline(conn.name)
        before = _stored(conn.tenant_id)
        archived = vendor.archive(13)
        _, report = run_inline(conn.name)
        rows = _stored(conn.tenant_id)
        assert report["status"] == "SUCCESS"
        assert report["records"]["updated"] == 13 and report["records"]["unchanged"] == 60 - 13
        gone = {sid for sid, row in rows.items() if row.raw_data["Id"] in archived}
        assert len(gone) == 13 and all(rows[sid].raw_data["RecordState"] == "ARCHIVED" for sid in gone)
        assert {sid: rows[sid].data["status"] for sid in gone} == {sid: "ARCHIVED" for sid in gone}
        for sid in gone:  # only the archiving changed
            assert rows[sid].raw_data["Workflow"] == before[sid].raw_data["Workflow"]
        assert all(rows[sid].data == before[sid].data for sid in set(rows) - gone)

def _stored(tenant) -> dict:
    import sqlalchemy as sa

    from nexus_sync import db

    rd = db.raw_data.c
    with db.get_engine().connect() as c:
        return {r.source_id: r for r in c.execute(sa.select(rd.source_id, rd.data, rd.raw_data)
                                                   .where(rd.tenant_id == tenant))}
