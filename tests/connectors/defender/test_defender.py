"""Defender for Endpoint machines: unit tests with `responses` (the contract runs against the simulator)."""
from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import responses

from connectors.defender import CONNECTOR as DefenderMachines
from connectors.machinery import OAuth2ClientCredentials
from nexus_sync.models import Asset
from tests.connectors.util import Sleeps, drain, make

BASE = "https://api.security.microsoft.com"
URL = f"{BASE}/api/machines"
TOKEN_URL = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
CREDS = {"client_id": "app", "client_secret": "s3cret"}
MACHINE = {"id": "0123456789abcdef0123456789abcdef01234567", "computerDnsName": "LAP-22.corp.example",
           "firstSeen": "2023-05-01T08:00:00.1234567Z", "lastSeen": "2024-06-01T09:15:00.7654321Z",
           "osPlatform": "Windows11", "version": "23H2", "osBuild": 22631, "lastIpAddress": "10.0.0.5",
           "lastExternalIpAddress": "203.0.113.9", "healthStatus": "Active", "riskScore": "Medium",
           "exposureLevel": "Low", "aadDeviceId": "11111111-2222-3333-4444-555555555555", "machineTags": ["finance"],
           "ipAddresses": [{"ipAddress": "10.0.0.5", "macAddress": "001122AABBCC", "operationalStatus": "Up"}]}


@pytest.fixture(autouse=True)
def _fresh_tokens():
    OAuth2ClientCredentials._tokens.clear()


def _connector(tmp_path, **kw):
    return make(DefenderMachines, BASE, CREDS, tmp_path, tenant="contoso.onmicrosoft.com", **kw)


def _token():
    responses.add(responses.POST, TOKEN_URL, json={"token_type": "Bearer", "expires_in": 3599, "access_token": "at"})


def test_normalize_maps_the_skeleton_machine():
    data = Asset.model_validate(DefenderMachines.normalize(MACHINE))
    assert data.uid == MACHINE["id"] and data.hostname == "lap-22.corp.example"
    assert data.macs == ["00:11:22:aa:bb:cc"] and data.ips == ["10.0.0.5", "203.0.113.9"]
    assert data.last_seen_time == "2024-06-01T09:15:00.765432Z" and data.tags == ["finance"]


def test_a_machine_without_id_is_invalid():
    with pytest.raises(KeyError):
        DefenderMachines.normalize({k: v for k, v in MACHINE.items() if k != "id"})


@responses.activate
def test_token_from_the_tenant_and_next_link_paging(tmp_path):
    _token()
    nxt = f"{URL}?$top=1&$skip=1"
    responses.add(responses.GET, URL, json={"value": [MACHINE], "@odata.nextLink": nxt})
    responses.add(responses.GET, nxt, json={"value": [dict(MACHINE, id="b" * 40)]})
    records, pages = drain(_connector(tmp_path, page_size=1))
    assert [r["id"] for r in records] == [MACHINE["id"], "b" * 40] and pages == 2
    form = parse_qs(responses.calls[0].request.body)
    assert form["scope"] == ["https://api.securitycenter.microsoft.com/.default"]
    assert form["grant_type"] == ["client_credentials"] and form["client_secret"] == ["s3cret"]
    first, second = responses.calls[1].request, responses.calls[2].request
    assert first.headers["Authorization"] == "Bearer at" and "%24top=1" in first.url
    assert second.url == nxt


@responses.activate
def test_incremental_sync_filters_on_last_seen(tmp_path):
    _token()
    responses.add(responses.GET, URL, json={"value": []})
    drain(_connector(tmp_path), since=MACHINE["lastSeen"])
    query = parse_qs(responses.calls[1].request.url.split("?", 1)[1])
    # the canonical cursor: MDE's 7th fractional digit dropped (rounded down, so `gt` misses nothing)
    assert query["$filter"] == ["lastSeen gt 2024-06-01T09:15:00.765432Z"]


@responses.activate
def test_429_retry_after_is_waited_out(tmp_path):
    _token()
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "3"},
                  json={"error": {"code": "TooManyRequests", "message": "Rate limit is exceeded."}})
    responses.add(responses.GET, URL, json={"value": [MACHINE]})
    sleeps = Sleeps()
    records, _ = drain(_connector(tmp_path, sleep=sleeps))
    assert len(records) == 1 and sleeps == [3.0]
