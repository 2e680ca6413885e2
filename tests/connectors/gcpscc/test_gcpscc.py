"""Security Command Center findings: the fact sheet's record (golden), a total normalizer, and against the
simulator the service-account JWT grant (google-auth), pageToken paging, the header-less 429 and the
event_time filter."""
from __future__ import annotations

import json

import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.gcpscc import CONNECTOR as Scc
from connectors.machinery.auth.google import GoogleAuth
from nexus_sync.credentials import redact
from nexus_sync.errors import AuthError, RateLimited
from nexus_sync.models import Vulnerability
from nexus_sync.simulator import SimConfig, Simulator
from nexus_sync.simulator.google import SIM_CREDENTIALS, SIM_SERVICE_ACCOUNT
from tests.connectors.util import Sleeps, drain, make

ORG = "organizations/123456789012"
GOLDEN = {"finding": {"name": "organizations/123/sources/456/findings/f00dbabe",
                      "parent": "organizations/123/sources/456",
                      "resourceName": "//compute.googleapis.com/projects/p1/zones/us-central1-a/instances/987",
                      "state": "ACTIVE", "category": "OPEN_FIREWALL", "severity": "HIGH",
                      "findingClass": "MISCONFIGURATION", "eventTime": "2024-06-01T03:00:00Z",
                      "createTime": "2024-05-20T03:00:00Z"},
          "resource": {"displayName": "vm-frontend", "type": "google.compute.Instance"}}


@pytest.fixture(scope="module")
def sim():
    s = Simulator(SimConfig(seed=7, sizes={"gcpscc": 25})).start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.reset("gcpscc")
    GoogleAuth._creds.clear()  # a token per test: each test sees its own grant
    yield


def connector(sim, tmp_path, creds=None, sleeps=None, **config):
    return make(Scc, sim.base_url("gcpscc"), creds or dict(SIM_CREDENTIALS), tmp_path, sleep=sleeps, page_size=10,
                token_url=f"{sim.base_url('gcpscc')}/token", parent=ORG, **config)


def test_the_fact_sheets_finding_normalizes_to_the_expected_fields():
    assert Scc.normalize(GOLDEN) == {
        "uid": "organizations/123/sources/456/findings/f00dbabe", "cve": "OPEN_FIREWALL",
        "asset_uid": "//compute.googleapis.com/projects/p1/zones/us-central1-a/instances/987",
        "title": "OPEN_FIREWALL on vm-frontend", "severity": "high", "cvss": None, "status": "ACTIVE",
        "first_seen_time": "2024-05-20T03:00:00Z", "last_seen_time": "2024-06-01T03:00:00Z"}
    data = Vulnerability.model_validate(Scc.normalize(GOLDEN))
    assert data.severity_label == "high"


def test_a_vulnerability_finding_takes_its_cve_and_cvss():
    raw = json.loads(json.dumps(GOLDEN))
    raw["finding"].update(findingClass="VULNERABILITY", category="OS_VULNERABILITY", severity="CRITICAL",
                          vulnerability={"cve": {"id": "CVE-2024-3094", "cvssv3": {"baseScore": 10.0}}})
    data = Vulnerability.model_validate(Scc.normalize(raw))
    assert (data.cve, data.cvss, data.severity) == ("CVE-2024-3094", 10.0, "critical")


def test_the_normalizer_is_total():
    f = GOLDEN["finding"]
    assert Scc.normalize({"finding": {**f, "severity": "SEVERITY_UNSPECIFIED"}})["severity"] == "info"
    assert Scc.normalize({"finding": {**f, "severity": "CATASTROPHIC"}})["severity"] == "medium"
    assert Scc.normalize({"finding": {**f, "state": "STALE"}})["status"] == "UNKNOWN"
    assert Scc.normalize({"finding": {**f, "category": ["OPEN_FIREWALL", "X"]}})["cve"] == "OPEN_FIREWALL"
    bare = Scc.normalize({"finding": {"name": "organizations/1/sources/2/findings/3"}})
    Vulnerability.model_validate(bare)
    assert bare["asset_uid"] == bare["cve"] == bare["uid"] and bare["severity"] == "info"
    assert bare["status"] is None and bare["first_seen_time"] is None
    with pytest.raises(KeyError):  # no identity: the only rejection
        Scc.normalize({"finding": {"category": "X"}})


@pytest.mark.parametrize("size", [0, 1, 25])
def test_pages_by_page_token_cover_every_finding(sim, tmp_path, size):
    vendor = sim.vendor("gcpscc")
    vendor.order[size:] = []  # the first `size` findings only
    conn = connector(sim, tmp_path)
    records, pages = drain(conn)
    assert [conn.source_id(r) for r in records] == vendor.order
    assert pages == max(1, -(-size // 10))
    assert all(set(r) == {"finding", "resource"} for r in records)


def test_a_key_the_service_account_does_not_have_is_an_auth_error(sim, tmp_path):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    forged = {"service_account_json": json.dumps({**SIM_SERVICE_ACCOUNT, "private_key": other})}
    with pytest.raises(AuthError, match=r"invalid_grant"):
        drain(connector(sim, tmp_path, creds=forged))
    with pytest.raises(AuthError, match="not a service-account key"):
        drain(connector(sim, tmp_path, creds={"service_account_json": "{not json"}))


def test_the_token_and_the_signed_assertion_are_redacted(sim, tmp_path):
    conn = connector(sim, tmp_path)
    drain(conn)
    token = GoogleAuth._creds[f"{conn.ctx.name}|{sim.base_url('gcpscc')}/token"][0].token
    assert token and redact(f"got {token} back") == "got *** back"
    assert redact(SIM_SERVICE_ACCOUNT["private_key"]) == "***"


@responses.activate
def test_the_token_request_follows_no_redirect_and_stays_on_the_token_origin(tmp_path):
    responses.add(responses.POST, "https://oauth2.googleapis.com/token", status=302,
                  headers={"Location": "https://evil.example/token"})
    conn = make(Scc, "https://securitycenter.googleapis.com", dict(SIM_CREDENTIALS), tmp_path, parent=ORG)
    with pytest.raises(AuthError, match="redirected to https://evil.example"):
        drain(conn)
    assert [c.request.url for c in responses.calls] == ["https://oauth2.googleapis.com/token"]


def test_a_header_less_429_is_backed_off_and_drops_nothing(sim, tmp_path):
    sim.set_faults("gcpscc", rate_limit_every=2)
    raw = requests.post(f"{sim.base_url('gcpscc')}/token", timeout=5)  # not a data request: no 429 there
    assert raw.status_code == 400
    sleeps = Sleeps()
    conn = connector(sim, tmp_path, sleeps=sleeps)
    records, _ = drain(conn)
    assert len(records) == 25 and sleeps and set(sleeps) == {1.0}  # no header: the backoff's first step
    sim.set_faults("gcpscc", rate_limit_every=1)
    with pytest.raises(RateLimited) as caught:
        drain(connector(sim, tmp_path, sleeps=Sleeps()))
    # the error table's default for a 429 without Retry-After: waits of 1, 2, 4 s in place, then the task waits 8
    assert "429 Too Many Requests" in str(caught.value) and caught.value.wait_seconds == 8.0


def test_the_answer_to_a_throttled_call_has_no_rate_headers(sim, tmp_path):
    sim.set_faults("gcpscc", rate_limit_every=1)
    conn = connector(sim, tmp_path)
    resp = requests.get(f"{sim.base_url('gcpscc')}/v2/{ORG}/sources/-/locations/global/findings",
                        headers={"Authorization": f"Bearer {conn._auth.token()}"}, timeout=5)
    assert resp.status_code == 429 and resp.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert not [h for h in resp.headers if h.lower().startswith(("retry-after", "x-ratelimit", "ratelimit"))]


def test_incremental_asks_for_findings_whose_event_time_is_not_older_than_the_cursor(sim, tmp_path):
    truth = sim.truth("gcpscc")
    conn = connector(sim, tmp_path, incremental=True)
    since = sorted(conn.cursor_value(r) for r in truth.values())[15]
    records, _ = drain(conn, since=since)
    assert {conn.source_id(r) for r in records} == {k for k, r in truth.items() if conn.cursor_value(r) >= since}
    assert 0 < len(records) < 25


def test_a_changed_finding_moves_the_cursor(sim, tmp_path):
    conn = connector(sim, tmp_path)
    before, _ = drain(conn)
    newest = max(conn.cursor_value(r) for r in before)
    changed, _ = sim.vendor("gcpscc").mutate(0.2)
    after, _ = drain(conn, since=newest)
    assert {conn.source_id(r) for r in after} == set(changed)
