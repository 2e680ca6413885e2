"""Wiz issues: token with audience, GraphQL cursor paging with the updatedAt filter, errors[] on 200, the rate
limit inside a 200 (RATE_LIMIT_EXCEEDED + retryAfter) waited out; through the pipeline: every status change of
an incremental sync lands, and a throttled sync ends SUCCESS with every record."""
from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
import responses

from connectors.machinery import OAuth2ClientCredentials
from connectors.wiz import CONNECTOR as Wiz
from nexus_sync.errors import RateLimited, VendorDataError
from nexus_sync.models import Incident
from tests.connectors.util import Sleeps, drain, make

API = "https://api.us17.app.wiz.io"
TOKEN_URL = "https://auth.app.wiz.io/oauth/token"
CREDS = {"client_id": "cid", "client_secret": "csecret"}
ISSUE = {"id": "c0ffee00-1111-2222-3333-444455556666", "status": "OPEN", "severity": "HIGH",
         "type": "CLOUD_CONFIGURATION", "createdAt": "2024-05-01T00:00:00Z", "updatedAt": "2024-05-02T00:00:00Z",
         "sourceRule": {"id": "rule-1", "name": "Public bucket"}, "project": {"id": "p-1", "name": "Prod", "slug": "prod"},
         "entitySnapshot": {"id": "res-9", "type": "BUCKET", "nativeType": "AWS::S3::Bucket", "name": "logs-bkt",
                            "cloudPlatform": "AWS", "region": "us-east-1", "externalId": "arn:aws:s3:::logs-bkt"}}


@pytest.fixture(autouse=True)
def _fresh_tokens():
    OAuth2ClientCredentials._tokens.clear()


def _page(rsps, nodes, more, cursor=None, status=200):
    rsps.add(responses.POST, f"{API}/graphql", status=status, json={"data": {"issuesV2": {
        "nodes": nodes, "pageInfo": {"hasNextPage": more, "endCursor": cursor}}}})


def _token(rsps):
    rsps.add(responses.POST, TOKEN_URL, json={"access_token": "tok", "token_type": "Bearer", "expires_in": 86400})


def test_normalize_issue_as_incident():
    data = Incident.model_validate(Wiz.normalize(ISSUE))
    assert (data.uid, data.title, data.severity, data.status) == (ISSUE["id"], "Public bucket", "high", "OPEN")
    assert data.time == "2024-05-01T00:00:00Z" and data.tags == ["CLOUD_CONFIGURATION", "prod"]
    assert data.description == "AWS::S3::Bucket arn:aws:s3:::logs-bkt"


def test_an_issue_without_rule_or_control_is_invalid():
    with pytest.raises(KeyError):
        Wiz.normalize({**ISSUE, "sourceRule": None})


@responses.activate
def test_token_has_audience_and_page_2_sends_after_with_the_since_filter(tmp_path):
    _token(responses)
    _page(responses, [ISSUE], True, "cur-2")
    _page(responses, [dict(ISSUE, id="b")], False, "cur-3")
    records, pages = drain(make(Wiz, API, CREDS, tmp_path, page_size=1), since="2024-04-01T00:00:00Z")
    assert [r["id"] for r in records] == [ISSUE["id"], "b"] and pages == 2
    form = parse_qs(responses.calls[0].request.body)
    assert form["audience"] == ["wiz-api"] and form["grant_type"] == ["client_credentials"]
    first, second = (json.loads(c.request.body) for c in responses.calls[1:])
    assert "issuesV2(" in first["query"] and first["variables"]["first"] == 1 and first["variables"]["after"] is None
    assert second["variables"]["after"] == "cur-2"
    assert second["variables"]["filterBy"] == {"updatedAt": {"after": "2024-04-01T00:00:00Z"}}
    assert responses.calls[1].request.headers["Authorization"] == "Bearer tok"


@responses.activate
def test_token_url_config_overrides_the_auth_host(tmp_path):
    responses.add(responses.POST, "https://sim.test/wiz/oauth/token",
                  json={"access_token": "t2", "token_type": "Bearer", "expires_in": 60 * 60})
    _page(responses, [], False)
    drain(make(Wiz, API, CREDS, tmp_path, token_url="https://sim.test/wiz/oauth/token"))
    assert responses.calls[1].request.headers["Authorization"] == "Bearer t2"


@responses.activate
def test_graphql_errors_on_http_200_fail_the_page(tmp_path):
    _token(responses)
    responses.add(responses.POST, f"{API}/graphql", json={"data": None, "errors": [{"message": "invalid cursor"}]})
    with pytest.raises(VendorDataError, match="invalid cursor"):
        drain(make(Wiz, API, CREDS, tmp_path))


@responses.activate
def test_429_is_backed_off(tmp_path):
    _token(responses)
    responses.add(responses.POST, f"{API}/graphql", status=429, json={"errors": [{"message": "Rate limit exceeded"}]})
    _page(responses, [ISSUE], False)
    sleeps = Sleeps()
    records, _ = drain(make(Wiz, API, CREDS, tmp_path, sleep=sleeps))
    assert len(records) == 1 and len(sleeps) == 1 and sleeps[0] >= 0.5


def _throttled(rsps, retry_after):
    rsps.add(responses.POST, f"{API}/graphql", json={"data": None, "errors": [{
        "message": "Rate limit exceeded", "extensions": {"code": "RATE_LIMIT_EXCEEDED", "retryAfter": retry_after}}]})


@responses.activate
def test_a_rate_limit_inside_a_200_waits_its_retry_after_and_keeps_the_page(tmp_path):
    """Fidelity #12: the wait is the body's retryAfter (seconds), not a blind backoff; the same page is asked again."""
    _token(responses)
    _page(responses, [ISSUE], True, "cur-2")
    _throttled(responses, 4)
    _page(responses, [dict(ISSUE, id="b")], False)
    sleeps = Sleeps()
    records, pages = drain(make(Wiz, API, CREDS, tmp_path, page_size=1, sleep=sleeps))
    assert [r["id"] for r in records] == [ISSUE["id"], "b"] and pages == 2
    assert sleeps == [4.0]
    throttled, retried = (json.loads(c.request.body)["variables"]["after"] for c in responses.calls[2:])
    assert throttled == retried == "cur-2"


@responses.activate
def test_a_long_retry_after_inside_a_200_is_handed_to_the_task_as_its_wait(tmp_path):
    _token(responses)
    _throttled(responses, 90)
    with pytest.raises(RateLimited, match=r"200 OK \[RATE_LIMIT_EXCEEDED\] rate limited") as err:
        drain(make(Wiz, API, CREDS, tmp_path))
    assert err.value.wait_seconds == 90


# ---------------------------------------------------------------- through the pipeline (simulator, real stack)

@pytest.fixture
def wiz_sim():
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=11, sizes={"wiz": 400})).start()
    yield s
    s.stop()


def test_an_incremental_sync_stores_every_status_change(wiz_sim, make_connector):
    """Fidelity #8: a cursor on createdAt missed every status change; on updatedAt each one lands."""
    from connectors.cursors import canonical
    from tests.pipeline.helpers import cursor_of, raw_rows, run_inline

    sim = wiz_sim
    conn = make_connector(sim, "wiz", incremental=True, page_size=100)
    vendor = sim.vendor("wiz")
    _, first = run_inline(conn.name)
    assert first["records"]["new"] == len(vendor.order)
    changed, _ = vendor.mutate(200 / len(vendor.order))
    _, report = run_inline(conn.name)
    truth = sim.truth("wiz")
    rows = {r.source_id: r for r in raw_rows(conn.tenant_id)}
    assert report["status"] == "SUCCESS" and report["records"]["updated"] == len(changed) == 200
    assert all(rows[i].data["status"] == truth[i]["status"] for i in changed)
    assert cursor_of(conn.id) == canonical(max(r["updatedAt"] for r in truth.values()), "iso")


def test_a_throttled_sync_waits_as_told_and_ends_with_every_record(wiz_sim, make_connector, monkeypatch):
    """Fidelity #12 through the pipeline: every third GraphQL call is throttled inside a 200 with retryAfter 3."""
    from nexus_sync.http import HttpClient
    from tests.pipeline.helpers import raw_rows, run_inline

    waits: list[float] = []
    monkeypatch.setattr(HttpClient, "_wait", lambda self, url, wait: waits.append(wait))  # no real sleeping
    sim = wiz_sim
    conn = make_connector(sim, "wiz", page_size=50)
    sim.set_faults("wiz", rate_limit_every=3, retry_after_seconds=3)
    _, report = run_inline(conn.name)
    throttled = sim.stats("wiz")["faults"]["rate_limit"]
    assert report["status"] == "SUCCESS"
    assert {r.source_id for r in raw_rows(conn.tenant_id)} == set(sim.truth("wiz"))
    assert throttled >= 2 and len(waits) == throttled and all(w >= 3 for w in waits)
