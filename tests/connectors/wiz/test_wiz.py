"""Wiz issues: token with audience, GraphQL cursor paging with the createdAt filter, errors[] on 200."""
from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
import responses

from connectors.auth import OAuth2ClientCredentials
from connectors.wiz import CONNECTOR as Wiz
from nexus_sync.errors import VendorDataError
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
    assert second["variables"]["filterBy"] == {"createdAt": {"after": "2024-04-01T00:00:00Z"}}
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
