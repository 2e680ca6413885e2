"""Salesforce login history: the fact sheet's LoginHistory row as a security event, `LoginTime` with `+0000`
as the cursor and the next SOQL literal, and paging through the simulated org."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.salesforce_logins import CONNECTOR as Logins
from connectors.salesforce_logins import LOGIN_FIELDS
from nexus_sync.models import SecurityEvent
from nexus_sync.simulator import SimConfig, Simulator
from tests.connectors.simulated import fresh_tokens
from tests.connectors.util import drain, make

CREDS = {"client_id": "3MVG9sim.consumer.key", "client_secret": "sim-consumer-secret"}
ORG = "https://acme.my.salesforce.com"
# the fact sheet's record (vendor-apis-2.md §35)
FACT_LOGIN = {"attributes": {"type": "LoginHistory", "url": "/services/data/v59.0/sobjects/LoginHistory/0Ya5e00000ABCDeCAF"},
              "Id": "0Ya5e00000ABCDeCAF", "UserId": "0055e000003XyZ1AAK", "LoginTime": "2024-06-01T10:00:00.000+0000",
              "LoginType": "Application", "SourceIp": "198.51.100.23", "Status": "Success", "Application": "Browser",
              "Browser": "Chrome 125", "Platform": "Mac OSX", "CountryIso": "DE"}


_fresh_tokens = fresh_tokens


def test_golden_the_fact_sheets_login():
    data = SecurityEvent.model_validate(Logins.normalize(FACT_LOGIN))
    assert (data.uid, data.title, data.severity, data.time, data.host, data.user, data.status) == (
        "0Ya5e00000ABCDeCAF", "Salesforce login (Application): Success", "info", "2024-06-01T10:00:00Z",
        "198.51.100.23", "0055e000003XyZ1AAK", "Success")


def test_normalize_is_total():
    failed = Logins.normalize({**FACT_LOGIN, "Status": "Invalid Password", "LoginType": None})
    assert (failed["severity"], failed["title"]) == ("low", "Salesforce login (unknown type): Invalid Password")
    assert Logins.normalize({**FACT_LOGIN, "Status": None})["status"] == "unknown"
    with pytest.raises(KeyError):
        Logins.normalize({"LoginTime": FACT_LOGIN["LoginTime"]})


def test_login_time_round_trips_into_the_cursor_and_the_soql_literal(tmp_path):
    conn = make(Logins, ORG, CREDS, tmp_path)
    cursor = conn.cursor_value({**FACT_LOGIN, "LoginTime": "2024-06-01T10:00:00.007+0000"})
    assert cursor == "2024-06-01T10:00:00.007000Z"
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, f"{ORG}/services/oauth2/token", json={"access_token": "s", "instance_url": ORG})
        rsps.add(responses.GET, f"{ORG}/services/data/v59.0/query", json={"totalSize": 0, "done": True, "records": []})
        drain(conn, since=cursor)
        q = parse_qs(urlsplit(rsps.calls[1].request.url).query)["q"]
    assert q == [f"SELECT {LOGIN_FIELDS} FROM LoginHistory WHERE LoginTime > 2024-06-01T10:00:00.007Z "
                 "ORDER BY LoginTime, Id"]


def test_the_simulated_org_pages_and_filters_logins(tmp_path):
    sim = Simulator(SimConfig(seed=3, sizes={"salesforce_logins": 25})).start()
    try:
        conn = make(Logins, sim.base_url("salesforce_logins"), CREDS, tmp_path, page_size=10)
        records, pages = drain(conn)
        assert {r["Id"] for r in records} == set(sim.truth("salesforce_logins")) and pages == 3
        times = [conn.cursor_value(r) for r in records]
        assert times == sorted(times)  # ORDER BY LoginTime, Id
        later, _ = drain(conn, since=times[19])
        assert [r["Id"] for r in later] == [r["Id"] for r in records[20:]]
    finally:
        sim.stop()
