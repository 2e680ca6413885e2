"""Salesforce users: client credentials with HTTP Basic on My Domain, relative `nextRecordsUrl`, the `+0000`
time as cursor and as the next SOQL literal, 403 REQUEST_LIMIT_EXCEEDED as the throttle, `Sforce-Limit-Info`
read, an expired session refreshed; against the simulator and with `responses`."""
from __future__ import annotations

import base64
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from connectors.salesforce import CONNECTOR as Salesforce
from connectors.salesforce import USER_FIELDS
from nexus_sync.errors import AuthError, RateLimited
from nexus_sync.models import User
from nexus_sync.simulator import Simulator
from tests.connectors.simulated import fresh_tokens, sim_of
from tests.connectors.util import Sleeps, drain, make

CREDS = {"client_id": "3MVG9sim.consumer.key", "client_secret": "sim-consumer-secret"}
ORG = "https://acme.my.salesforce.com"
QUERY = f"{ORG}/services/data/v59.0/query"
# a User row in the REST shape of the fact sheet (§35: the fields it names, attributes, nested Profile.Name,
# +0000 times)
FACT_USER = {"attributes": {"type": "User", "url": "/services/data/v59.0/sobjects/User/0055e000003XyZ1AAK"},
             "Id": "0055e000003XyZ1AAK", "Username": "jdoe@acme.com", "Email": "jane.doe@acme.com",
             "Name": "Jane Doe", "IsActive": True, "UserType": "Standard",
             "Profile": {"attributes": {"type": "Profile", "url": "/services/data/v59.0/sobjects/Profile/00e5e"},
                         "Name": "System Administrator"},
             "LastLoginDate": "2024-06-01T10:00:00.000+0000", "CreatedDate": "2023-02-01T10:00:00.000+0000",
             "SystemModstamp": "2024-06-01T10:05:00.123+0000"}


sim = sim_of("salesforce", seed=11)
_fresh_tokens = fresh_tokens


def _sim_connector(s: Simulator, tmp_path, **kw):
    return make(Salesforce, s.base_url("salesforce"), kw.pop("creds", CREDS), tmp_path, **{"page_size": 10, **kw})


def _token(rsps=responses):
    rsps.add(responses.POST, f"{ORG}/services/oauth2/token",
             json={"access_token": "00Dxx!sess", "instance_url": ORG, "token_type": "Bearer", "issued_at": "1"})


def test_golden_a_user_row():
    data = User.model_validate(Salesforce.normalize(FACT_USER))
    assert data.model_dump(exclude={"severity_score", "severity_label"}) == {
        "uid": "0055e000003XyZ1AAK", "email": "jane.doe@acme.com", "username": "jdoe@acme.com",
        "full_name": "Jane Doe", "status": "active", "mfa": None, "created_time": "2023-02-01T10:00:00Z",
        "last_login_time": "2024-06-01T10:00:00Z", "modified_time": "2024-06-01T10:05:00.123000Z",
        "groups": ["System Administrator"]}


def test_normalize_is_total():
    bare = {"Id": "0055e000003XyZ2AAK", "Username": "svc@acme.com", "Email": None, "IsActive": "maybe",
            "Profile": None}
    data = User.model_validate(Salesforce.normalize(bare))
    assert (data.email, data.status, data.groups, data.created_time) == ("svc@acme.com", None, [], None)
    assert Salesforce.normalize({**FACT_USER, "IsActive": False})["status"] == "inactive"
    with pytest.raises(KeyError):
        Salesforce.normalize({"Username": "x@acme.com"})


def test_a_plus0000_time_round_trips_into_the_cursor_and_the_next_soql_literal(tmp_path):
    conn = make(Salesforce, ORG, CREDS, tmp_path)
    cursor = conn.cursor_value(FACT_USER)
    assert cursor == "2024-06-01T10:05:00.123000Z"
    with responses.RequestsMock() as rsps:
        _token(rsps)
        rsps.add(responses.GET, QUERY, json={"totalSize": 0, "done": True, "records": []})
        drain(conn, since=cursor)
        q = parse_qs(urlsplit(rsps.calls[1].request.url).query)["q"]
    assert q == [f"SELECT {USER_FIELDS} FROM User WHERE SystemModstamp > 2024-06-01T10:05:00.123Z ORDER BY SystemModstamp, Id"]


@responses.activate
def test_basic_client_auth_and_the_relative_next_records_url(tmp_path):
    _token()
    nxt = "/services/data/v59.0/query/01gD0000002HU6KIAW-2000"
    responses.add(responses.GET, QUERY, json={"totalSize": 2, "done": False, "nextRecordsUrl": nxt,
                                              "records": [FACT_USER]})
    responses.add(responses.GET, ORG + nxt, json={"totalSize": 2, "done": True,
                                                  "records": [dict(FACT_USER, Id="0055e000003XyZ9AAK")]})
    records, pages = drain(make(Salesforce, ORG, {"client_id": "key", "client_secret": "sec"}, tmp_path))
    assert [r["Id"] for r in records] == ["0055e000003XyZ1AAK", "0055e000003XyZ9AAK"] and pages == 2
    grant = responses.calls[0].request
    assert grant.headers["Authorization"] == "Basic " + base64.b64encode(b"key:sec").decode()
    assert parse_qs(grant.body) == {"grant_type": ["client_credentials"]}  # the secret is not in the form
    first, second = responses.calls[1].request, responses.calls[2].request
    assert first.headers["Sforce-Query-Options"] == "batchSize=2000" and first.headers["Authorization"] == "Bearer 00Dxx!sess"
    assert second.url == ORG + nxt  # resolved on the org's host, no query re-sent


@responses.activate
def test_403_request_limit_exceeded_is_a_throttle_other_403s_are_not(tmp_path):
    _token()
    limit = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    responses.add(responses.GET, QUERY, status=403, json=limit)
    responses.add(responses.GET, QUERY, json={"totalSize": 1, "done": True, "records": [FACT_USER]})
    sleeps = Sleeps()
    records, _ = drain(make(Salesforce, ORG, CREDS, tmp_path, sleep=sleeps))
    assert len(records) == 1 and sleeps == [1.0]
    responses.add(responses.GET, QUERY, status=403,
                  json=[{"message": "insufficient access rights", "errorCode": "INSUFFICIENT_ACCESS"}])
    with pytest.raises(AuthError, match="INSUFFICIENT_ACCESS"):
        drain(make(Salesforce, ORG, CREDS, tmp_path))


def test_empty_one_and_many_with_page_2(sim, tmp_path):
    for size, pages in ((0, 1), (1, 1), (25, 3)):
        s = sim(size)
        records, got = drain(_sim_connector(s, tmp_path))
        assert {r["Id"] for r in records} == set(s.truth("salesforce")) and got == pages
        assert all("attributes" in r and r["SystemModstamp"].endswith("+0000") for r in records)


def test_incremental_sync_reads_only_later_changes(sim, tmp_path):
    s = sim(20)
    conn = _sim_connector(s, tmp_path)
    records, _ = drain(conn)
    cursor = max(conn.cursor_value(r) for r in records)
    assert drain(conn, since=cursor)[0] == []  # `>` the latest: nothing (the literal is exact to the ms)
    changed = s.mutate("salesforce", 0.25)
    later, _ = drain(conn, since=cursor)
    assert {r["Id"] for r in later} == set(changed)


def test_request_limit_exceeded_from_the_daily_allocation(sim, tmp_path):
    s = sim(25)
    s.set_faults("salesforce", rate_limit_every=2)
    sleeps = Sleeps()
    records, _ = drain(_sim_connector(s, tmp_path, sleep=sleeps))
    assert len(records) == 25 and sleeps and all(w >= 0.5 for w in sleeps)
    s.set_faults("salesforce", rate_limit_every=0, daily_api_limit=1)  # the org's allocation is spent
    with pytest.raises(RateLimited, match="REQUEST_LIMIT_EXCEEDED"):
        drain(_sim_connector(s, tmp_path, sleep=Sleeps()))


def test_the_usage_header_is_read_and_a_warning_said_near_the_limit(sim, tmp_path, caplog):
    s = sim(25)
    s.set_faults("salesforce", daily_api_limit=3)
    conn = _sim_connector(s, tmp_path)
    with caplog.at_level(logging.DEBUG, logger="connectors.salesforce.org"):
        drain(conn)
    assert conn.api_usage == (3, 3)
    said = [r for r in caplog.records if r.name == "connectors.salesforce.org"]
    assert [r.levelno for r in said] == [logging.DEBUG, logging.DEBUG, logging.WARNING]  # once, past 80 %
    assert "3/3" in said[-1].getMessage()


def test_an_expired_session_is_renewed(sim, tmp_path):
    s = sim(25)
    s.set_faults("salesforce", token_expire_after_requests=1)  # INVALID_SESSION_ID after each call
    records, _ = drain(_sim_connector(s, tmp_path))
    assert len(records) == 25 and s.stats("salesforce")["served_401"] == 2


def test_the_simulator_refuses_quoted_and_plus0000_literals(sim, tmp_path):
    s = sim(1)
    base = s.base_url("salesforce")
    grant = requests.post(f"{base}/services/oauth2/token", data={"grant_type": "client_credentials"},
                          auth=(CREDS["client_id"], CREDS["client_secret"]), timeout=5)
    auth = {"Authorization": f"Bearer {grant.json()['access_token']}"}
    for literal in ("'2024-06-01T00:00:00Z'", "2024-06-01T00:00:00.000+0000"):
        resp = requests.get(f"{base}/services/data/v59.0/query", headers=auth, timeout=5,
                            params={"q": f"SELECT Id FROM User WHERE SystemModstamp > {literal}"})
        assert resp.status_code == 400 and resp.json()[0]["errorCode"] == "MALFORMED_QUERY"
        assert resp.headers["Sforce-Limit-Info"].startswith("api-usage=")
