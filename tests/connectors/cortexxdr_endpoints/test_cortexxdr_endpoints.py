"""Cortex XDR endpoints: get_endpoint's `{"reply": {"endpoints": [...]}}` paged by the request_data window (100
at most), the enums, epoch-ms `last_seen` as the incremental filter; the simulator's other shape
(get_endpoints, a bare list) and its window cap."""
from __future__ import annotations

import pytest
import requests

from connectors.cortexxdr_endpoints import CONNECTOR as Endpoints
from connectors.machinery.auth.xdr import XdrAuth, XdrSigner
from nexus_sync.errors import AuthError
from nexus_sync.models import Asset
from tests.connectors.simulated import sim_of
from tests.connectors.util import Sleeps, drain, make

CREDS = {"api_key_id": "7", "api_key": "sim-xdr-advanced-key"}
VENDOR = "cortexxdr_endpoints"
# an endpoint shaped as demisto/content's CortexXDRIR test_data/get_endpoints.json (the fact sheet names it)
FACT = {"endpoint_id": "1111ab2cd3ef4a5b6c7d8e9f00112233", "endpoint_name": "WS-22", "endpointTags": "",
        "endpoint_type": "AGENT_TYPE_WORKSTATION", "endpoint_status": "CONNECTED", "os_type": "AGENT_OS_WINDOWS",
        "os_version": "10.0.19045", "ip": ["10.1.2.3"], "ipv6": [], "public_ip": "203.0.113.9",
        "users": ["acme\\jdoe"], "domain": "acme.local", "alias": "", "first_seen": 1685577600000,
        "last_seen": 1717236000000, "content_version": "1270-89871", "installation_package": "Standard",
        "endpoint_version": "8.3.0.12345", "is_isolated": "AGENT_UNISOLATED", "group_name": ["Finance"],
        "mac_address": ["00:50:56:aa:bb:cc"]}

sim = sim_of(VENDOR, seed=8)


def _conn(s, tmp_path, creds=CREDS, **kw):
    return make(Endpoints, s.base_url(VENDOR), creds, tmp_path, **{"page_size": 10, **kw})


def test_golden_an_xsoar_shaped_endpoint():
    data = Asset.model_validate(Endpoints.normalize(FACT))
    assert data.model_dump(include={"uid", "hostname", "name", "os_name", "os_version", "type", "ips", "macs",
                                    "state", "domain", "agent_version", "groups", "tags", "first_seen_time",
                                    "last_seen_time"}) == {
        "uid": "1111ab2cd3ef4a5b6c7d8e9f00112233", "hostname": "ws-22", "name": "WS-22", "os_name": "windows",
        "os_version": "10.0.19045", "type": "workstation", "ips": ["10.1.2.3", "203.0.113.9"],
        "macs": ["00:50:56:aa:bb:cc"], "state": "connected", "domain": "acme.local", "agent_version": "8.3.0.12345",
        "groups": ["Finance"], "tags": ["user:acme\\jdoe"], "first_seen_time": "2023-06-01T00:00:00Z",
        "last_seen_time": "2024-06-01T10:00:00Z"}


def test_normalize_is_total():
    odd = {"endpoint_id": "e1", "endpoint_type": "AGENT_TYPE_IOT", "os_type": "AGENT_OS_CHROMEOS", "ip": "10.0.0.1",
           "mac_address": ["not-a-mac", None], "is_isolated": "AGENT_ISOLATED", "group_name": None, "users": None}
    data = Asset.model_validate(Endpoints.normalize(odd))
    assert (data.type, data.os_name, data.ips, data.macs, data.state, data.groups, data.hostname) == (
        "iot", "chromeos", ["10.0.0.1"], [], "unknown+isolated", [], None)
    with pytest.raises(KeyError):
        Endpoints.normalize({"endpoint_name": "x"})


def test_empty_one_and_many_with_page_2(sim, tmp_path):
    for size, pages in ((0, 1), (1, 1), (25, 3)):
        s = sim(size)
        records, got = drain(_conn(s, tmp_path))
        assert {r["endpoint_id"] for r in records} == set(s.truth(VENDOR)) and got == pages


def test_a_wrong_key_is_an_auth_error(sim, tmp_path):
    with pytest.raises(AuthError, match="API request Unauthorized"):
        drain(_conn(sim(3), tmp_path, creds={**CREDS, "api_key_id": "8"}))


def test_a_bare_429_is_waited_out(sim, tmp_path):
    s = sim(25)
    s.set_faults(VENDOR, rate_limit_every=3)
    sleeps = Sleeps()
    records, _ = drain(_conn(s, tmp_path, sleep=sleeps))
    assert len(records) == 25 and sleeps


def test_incremental_sync_filters_last_seen(sim, tmp_path):
    s = sim(20)
    conn = _conn(s, tmp_path)
    records, _ = drain(conn)
    cursor = max(conn.cursor_value(r) for r in records)
    changed = s.mutate(VENDOR, 0.25)
    later, _ = drain(conn, since=cursor)
    assert {r["endpoint_id"] for r in later} == set(changed) | {
        r["endpoint_id"] for r in records if conn.cursor_value(r) == cursor}


def test_the_simulator_serves_the_other_shape_and_caps_the_window(sim, tmp_path):
    s = sim(5)
    signer = XdrSigner(_conn(s, tmp_path).ctx.secrets, XdrAuth())

    def post(path, body):
        headers: dict[str, str] = {}
        signer.apply(headers)
        return requests.post(f"{s.base_url(VENDOR)}/public_api/v1/endpoints/{path}", json=body, headers=headers,
                             timeout=5)

    everything = post("get_endpoints", {"request_data": {}})
    assert everything.status_code == 200 and isinstance(everything.json()["reply"], list)
    assert everything.headers.get("Content-Encoding") == "gzip"  # requests asks for gzip
    too_wide = post("get_endpoint", {"request_data": {"search_from": 0, "search_to": 101}})
    assert too_wide.status_code == 400 and "at most 100" in too_wide.json()["reply"]["err_msg"]
