"""SentinelOne agents: unit tests with `responses` (the contract runs against the simulator)."""
from __future__ import annotations

import pytest
import responses

from connectors.sentinelone import CONNECTOR as SentinelOneAgents
from nexus_sync.models import Asset
from tests.connectors.util import Sleeps, drain, make

BASE = "https://acme.sentinelone.test"
URL = f"{BASE}/web/api/v2.1/agents"
AGENT = {"id": "1234567890123456789", "uuid": "9f8e7d6c5b4a39281706f5e4d3c2b1a0", "computerName": "HR-LT-04",
         "osName": "Windows 11 Pro", "osType": "windows", "osRevision": "22631", "agentVersion": "23.4.2.14",
         "lastActiveDate": "2024-06-01T11:22:33.123456Z", "externalIp": "198.51.100.20",
         "lastIpToMgmt": "10.20.0.14", "networkInterfaces": [{"name": "Ethernet", "inet": ["10.20.0.14"],
                                                               "inet6": [], "physical": "AA-BB-CC-00-11-22"}],
         "isActive": True, "infected": False, "networkStatus": "connected", "machineType": "laptop",
         "siteName": "HQ", "updatedAt": "2024-06-01T11:30:00.000001Z"}


def _page(agents, cursor):
    return {"data": agents, "pagination": {"nextCursor": cursor, "totalItems": 2}}


def test_normalize_maps_the_skeleton_agent():
    data = Asset.model_validate(SentinelOneAgents.normalize(AGENT))
    assert data.uid == AGENT["id"] and data.hostname == "hr-lt-04" and data.macs == ["aa:bb:cc:00:11:22"]
    assert data.ips == ["10.20.0.14", "198.51.100.20"] and data.os_name == "Windows 11 Pro"
    assert data.last_seen_time == "2024-06-01T11:22:33.123456Z" and data.groups == ["HQ"]


def test_an_agent_without_its_name_is_invalid():
    with pytest.raises(KeyError):
        SentinelOneAgents.normalize({k: v for k, v in AGENT.items() if k != "computerName"})


@responses.activate
def test_page_two_sends_the_cursor_and_the_apitoken_header(tmp_path):
    responses.add(responses.GET, URL, json=_page([AGENT], "YWdlbnRfaWQ6MTIz"))
    responses.add(responses.GET, URL, json=_page([dict(AGENT, id="2")], None))
    records, pages = drain(make(SentinelOneAgents, BASE, {"token": "s1tok"}, tmp_path, page_size=1))
    assert [r["id"] for r in records] == [AGENT["id"], "2"] and pages == 2
    first, second = (c.request for c in responses.calls)
    assert first.headers["Authorization"] == "ApiToken s1tok" and "cursor" not in first.url
    assert "cursor=YWdlbnRfaWQ6MTIz" in second.url and "limit=1" in second.url


@responses.activate
def test_incremental_sync_filters_on_updated_at(tmp_path):
    responses.add(responses.GET, URL, json=_page([], None))
    drain(make(SentinelOneAgents, BASE, {"token": "t"}, tmp_path), since="2024-06-01T00:00:00.000000Z")
    assert "updatedAt__gt=2024-06-01T00%3A00%3A00Z" in responses.calls[0].request.url  # the canonical cursor


@responses.activate
def test_bare_429_is_backed_off_and_retried(tmp_path):
    responses.add(responses.GET, URL, status=429, json={"errors": [{"code": 4290010, "detail": "throttled"}]})
    responses.add(responses.GET, URL, json=_page([AGENT], None))
    sleeps = Sleeps()
    records, _ = drain(make(SentinelOneAgents, BASE, {"token": "t"}, tmp_path, sleep=sleeps))
    assert len(records) == 1 and sleeps == [1.0]


@responses.activate
def test_decommissioned_and_uninstalled_agents_are_asked_for_and_say_so(tmp_path):
    """The agent list leaves decommissioned agents out unless isDecommissioned asks for them."""
    gone = dict(AGENT, id="2", isDecommissioned=True, isActive=False, networkStatus="disconnected")
    responses.add(responses.GET, URL, json=_page([AGENT, gone, dict(gone, id="3", isUninstalled=True)], None))
    conn = make(SentinelOneAgents, BASE, {"token": "t"}, tmp_path)
    records, _ = drain(conn)
    assert "isDecommissioned=true%2Cfalse" in responses.calls[0].request.url
    assert "isUninstalled=true%2Cfalse" in responses.calls[0].request.url
    assert [Asset.model_validate(conn.normalize(r)).state for r in records] == ["connected", "decommissioned",
                                                                               "decommissioned"]
    assert conn.normalize(dict(AGENT, isUninstalled=True))["state"] == "uninstalled"


def test_a_linux_loopback_interface_is_no_address_of_the_agent():
    lo = {"name": "lo", "inet": ["127.0.0.1"], "inet6": ["::1"], "physical": "00:00:00:00:00:00"}
    agent = dict(AGENT, networkInterfaces=AGENT["networkInterfaces"] + [lo])
    data = Asset.model_validate(SentinelOneAgents.normalize(agent))
    assert data.ips == ["10.20.0.14", "198.51.100.20"] and data.macs == ["aa:bb:cc:00:11:22"]
