"""Issue 10 finding 11: vendor cursors are parsed into canonical text before they are saved, a saved one is
re-parsed before use, and what reaches a vendor query language cannot be read as its syntax."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import responses

import connectors
from nexus_sync.errors import ConfigError
from tests.connectors.util import drain, make

INJECTION = '2024-01-01T00:00:00Z" or id eq "x'


def _okta(tmp_path):
    return make(connectors.get("okta"), "https://acme.okta.test", {"token": "okta-token"}, tmp_path)


def _bare(vendor: str):
    """An instance without config or secrets: reading a cursor needs neither."""
    cls = connectors.get(vendor)
    return cls.__new__(cls)


def _query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def test_a_quote_carrying_cursor_value_is_rejected(tmp_path):
    okta = _okta(tmp_path)
    with pytest.raises(ValueError, match="not an ISO-8601 time"):
        okta.canonical_cursor(INJECTION)
    with pytest.raises(ValueError, match="lastUpdated"):
        okta.cursor_value({"id": "00u1", "lastUpdated": INJECTION})


@pytest.mark.parametrize("vendor, value, canonical", [
    ("okta", "2024-05-20T12:00:00.000Z", "2024-05-20T12:00:00Z"),
    ("okta", 1717236000000, "2024-06-01T10:00:00Z"),  # epoch ms where ISO is declared
    ("okta", "1717236000", "2024-06-01T10:00:00Z"),  # epoch seconds, as text
    ("jira", "2024-06-01T10:11:12.345+0000", "2024-06-01T10:11:12.345000Z"),
    ("servicenow", "2024-06-01 08:15:00", "2024-06-01T08:15:00Z"),  # the Table API's UTC layout
    ("thehive", 1717236000000, "1717236000000"),
    ("thehive", "2024-06-01T10:00:00Z", "1717236000000"),  # ISO where epoch ms is declared
    ("thehive", 1717236000, "1717236000000"),  # epoch seconds where ms is declared
])
def test_epoch_and_iso_mix_ups_become_the_declared_canonical_text(vendor, value, canonical):
    assert _bare(vendor).canonical_cursor(value) == canonical


@pytest.mark.parametrize("value", ["", "yesterday", "2024-13-01T00:00:00Z", "2024-06-01T10:00:00Z^ORDERBYDESCsys_id",
                                   True, None, {"$gt": 1}, -5, "9" * 80])
def test_values_that_are_no_time_are_refused_with_a_short_message(value):
    with pytest.raises(ValueError) as err:
        _bare("servicenow").canonical_cursor(value)
    assert len(str(err.value)) < 120


@responses.activate
def test_a_saved_bogus_cursor_never_reaches_the_okta_filter(tmp_path):
    responses.add(responses.GET, "https://acme.okta.test/api/v1/users", json=[])
    with pytest.raises(ConfigError) as err:
        drain(_okta(tmp_path), since=INJECTION)
    assert len(responses.calls) == 0
    assert "okta-test" in str(err.value) and "full sync" in str(err.value)


@responses.activate
def test_a_saved_cursor_is_quoted_for_okta_in_its_documented_layout(tmp_path):
    responses.add(responses.GET, "https://acme.okta.test/api/v1/users", json=[])
    drain(_okta(tmp_path), since="2024-05-20T12:00:00.250000Z")
    assert _query(responses.calls[0])["filter"] == ['lastUpdated gt "2024-05-20T12:00:00.250Z"']


@responses.activate
def test_servicenow_gets_its_own_time_layout_and_no_extra_query_clause(tmp_path):
    url = "https://acme.service-now.test/api/now/table/cmdb_ci"
    responses.add(responses.GET, url, json={"result": []})
    conn = make(connectors.get("servicenow"), "https://acme.service-now.test", {"username": "u", "password": "p"},
                tmp_path)
    drain(conn, since="2024-06-01T08:15:00Z")
    assert _query(responses.calls[0])["sysparm_query"] == ["sys_updated_on>2024-06-01 08:15:00^ORDERBYsys_id"]
    with pytest.raises(ConfigError):
        drain(conn, since="2024-06-01 08:15:00^ORDERBYDESCsys_id")
    assert len(responses.calls) == 1


@responses.activate
def test_a_saved_bogus_cursor_never_reaches_jql_or_thehive(tmp_path):
    jira = make(connectors.get("jira"), "https://acme.atlassian.test", {"username": "u", "password": "p"}, tmp_path,
                jql="project = SEC")
    thehive = make(connectors.get("thehive"), "https://hive.test", {"token": "k"}, tmp_path)
    with pytest.raises(ConfigError, match="jira-test"):
        drain(jira, since='2024-06-01" OR project = HR OR updated >= "2024-06-01')
    with pytest.raises(ConfigError, match="thehive-test"):
        drain(thehive, since="1717236000000}]")
    assert len(responses.calls) == 0


@pytest.mark.parametrize("text", ['2024-06-01"', "2024-06-01\\", "2024-06-01^ORDERBY", "2024'", "a&b", ""])
def test_text_a_query_would_read_as_syntax_never_passes_the_last_check(text):
    from connectors.cursors import query_text

    with pytest.raises(ValueError):
        query_text(text)


def test_a_since_layout_needs_a_time_cursor():
    from connectors.machinery import BrokenDeclaration, Declaration, HeaderAuth, OffsetPaging, Request, declare

    decl = Declaration(type="acme", title="Acme", category="edr", kind="asset", auth=HeaderAuth(),
                       request=Request(path="/d", since_params={"after": "{since}"}), paging=OffsetPaging(),
                       id_field="id", cursor_field="seq", cursor_format="int", since_format="%Y")
    with pytest.raises(BrokenDeclaration, match="since_format"):
        declare(decl, dict)
