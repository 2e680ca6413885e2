"""Security Hub findings: SigV4 signing, NextToken in the body, ASFF mapping."""
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
