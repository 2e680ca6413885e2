"""Jira issues: Basic email:token, nextPageToken paging to isLast, the JQL cursor, Retry-After."""
from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.jira import CONNECTOR as JiraIssues
from connectors.jira.hooks import jql_time
from nexus_sync.models import Incident
from tests.connectors.util import Sleeps, drain, make

BASE = "https://acme.atlassian.test"
URL = f"{BASE}/rest/api/3/search/jql"
CREDS = {"username": "bot@example.com", "password": "api-token"}
ISSUE = {"id": "10042", "key": "SEC-42", "self": f"{BASE}/rest/api/3/issue/10042",
         "fields": {"summary": "Patch OpenSSL on web tier", "status": {"name": "In Progress"},
                    "priority": {"name": "Highest"}, "issuetype": {"name": "Task"}, "project": {"key": "SEC"},
                    "labels": ["vuln"], "created": "2024-05-01T09:00:00.000+0000",
                    "updated": "2024-06-01T10:11:12.345+0000"}}


def connector(tmp_path, sleep=None):
    return make(JiraIssues, BASE, CREDS, tmp_path, sleep=sleep, page_size=1, jql="project = SEC")


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def test_normalize_issue():
    data = Incident.model_validate(JiraIssues.normalize(ISSUE))
    assert (data.uid, data.title, data.severity, data.time, data.status, data.tags) == (
        "10042", "SEC-42: Patch OpenSSL on web tier", "critical", "2024-05-01T09:00:00Z", "In Progress", ["vuln"])
    with pytest.raises(KeyError):  # no fields (an id-only answer): invalid, skipped and reported
        JiraIssues.normalize({"id": "10042"})


@responses.activate
def test_next_page_token_until_the_key_is_absent(tmp_path):
    responses.add(responses.GET, URL, json={"issues": [ISSUE], "nextPageToken": "CAEaAggB", "isLast": False})
    responses.add(responses.GET, URL, json={"issues": [dict(ISSUE, id="10043")], "isLast": True})
    records, pages = drain(connector(tmp_path))
    assert [r["id"] for r in records] == ["10042", "10043"] and pages == 2
    first, second = query(responses.calls[0]), query(responses.calls[1])
    assert first["jql"] == ["project = SEC ORDER BY updated ASC"] and "summary" in first["fields"][0]
    assert first["maxResults"] == ["1"] and "nextPageToken" not in first
    assert second["nextPageToken"] == ["CAEaAggB"]
    assert responses.calls[0].request.headers["Authorization"] == \
        "Basic " + base64.b64encode(b"bot@example.com:api-token").decode()


def test_jql_time_starts_twelve_hours_early_in_minutes():
    assert jql_time("2024-06-01T10:11:12.345+0000") == "2024-05-31 22:11"
    assert jql_time("2024-06-01T12:11:12.345+0200") == "2024-05-31 22:11"


@responses.activate
def test_cursor_in_jql_and_429_retry_after(tmp_path):
    responses.add(responses.GET, URL, status=429, json={"errorMessages": ["Rate limit exceeded."]},
                  headers={"Retry-After": "4", "X-RateLimit-Reset": "2099-01-01T00:00:00Z"})
    responses.add(responses.GET, URL, json={"issues": [], "isLast": True})
    sleeps = Sleeps()
    records, _ = drain(connector(tmp_path, sleep=sleeps), since="2024-06-01T10:11:12.345+0000")
    assert records == [] and sleeps == [4.0]
    assert query(responses.calls[-1])["jql"] == ['(project = SEC) AND updated >= "2024-05-31 22:11" '
                                                 "ORDER BY updated ASC"]


@pytest.mark.parametrize("name,level", [("Blocker", "critical"), ("Critical", "critical"), ("Major", "high"),
                                        ("Minor", "low"), ("Trivial", "info"), ("Lowest", "info")])
def test_classic_priority_names_map_onto_the_scale(name, level):
    issue = {**ISSUE, "fields": {**ISSUE["fields"], "priority": {"name": name}}}
    assert Incident.model_validate(JiraIssues.normalize(issue)).severity == level


@pytest.mark.parametrize("priority", [{"name": "P1"}, {"name": "Showstopper"}, {"name": ""}, {}, None])
def test_an_unknown_or_missing_priority_is_rated_medium(priority):
    issue = {**ISSUE, "fields": {**ISSUE["fields"], "priority": priority}}
    assert Incident.model_validate(JiraIssues.normalize(issue)).severity == "medium"
