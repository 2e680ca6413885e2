"""Carbon Black Cloud devices: `X-Auth-Token: <secret>/<id>`, the org key in the path, `start` (from 1) and
`rows` in the body with `num_found`; `DOMAIN\\host` names and bare-hex MACs; against the simulator and with
`responses`."""
from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from connectors.carbonblack_devices import CONNECTOR as Devices
from nexus_sync.errors import AuthError
from nexus_sync.models import Asset
from tests.connectors.simulated import sim_of
from tests.connectors.util import Sleeps, drain, make

CREDS = {"api_secret_key": "SIMSECRETKEY0123456789AB", "api_id": "SIMAPIID01"}
ORG = "7DESJ9GN"
BASE = "https://defense-xx.conferdeploy.net"
URL = f"{BASE}/appservices/v6/orgs/{ORG}/devices/_search"
VENDOR = "carbonblack_devices"
# the fact sheet's device (vendor-apis.md §4)
FACT = {"id": 4455667, "name": "CORP\\ws-101", "os": "WINDOWS", "os_version": "Windows 10 x64",
        "last_internal_ip_address": "10.9.8.7", "last_external_ip_address": "203.0.113.77",
        "mac_address": "00155d0a0b0c", "last_contact_time": "2024-06-01T12:00:01.234Z",
        "registered_time": "2023-02-03T04:05:06.789Z", "status": "REGISTERED", "sensor_version": "4.0.1.123",
        "policy_name": "Standard", "quarantined": False}


def _body(request: Any) -> Any:
    """The JSON body a recorded request sent."""
    return json.loads(request.body or b"null")


sim = sim_of(VENDOR, seed=4)


def _sim_conn(s, tmp_path, creds=CREDS, **kw):
    return make(Devices, s.base_url(VENDOR), creds, tmp_path, **{"page_size": 10, "org_key": ORG, **kw})


def test_golden_the_fact_sheets_device():
    data = Asset.model_validate(Devices.normalize(FACT))
    assert data.model_dump(include={"uid", "hostname", "name", "os_name", "os_version", "ips", "macs", "state",
                                    "domain", "agent_version", "groups", "first_seen_time", "last_seen_time"}) == {
        "uid": "4455667", "hostname": "ws-101", "name": "CORP\\ws-101", "os_name": "windows",
        "os_version": "Windows 10 x64", "ips": ["10.9.8.7", "203.0.113.77"], "macs": ["00:15:5d:0a:0b:0c"],
        "state": "registered", "domain": "CORP", "agent_version": "4.0.1.123", "groups": ["policy:Standard"],
        "first_seen_time": "2023-02-03T04:05:06.789000Z", "last_seen_time": "2024-06-01T12:00:01.234000Z"}


def test_normalize_is_total():
    odd = {"id": 1, "name": ["x"], "os": "CHROMEOS", "mac_address": "n/a", "quarantined": True, "status": None,
           "last_internal_ip_address": "", "policy_name": 7}
    data = Asset.model_validate(Devices.normalize(odd))
    assert (data.hostname, data.os_name, data.macs, data.state, data.ips, data.groups) == (
        None, "chromeos", [], "unknown+quarantined", [], [])
    with pytest.raises(KeyError):
        Devices.normalize({"name": "x"})


@responses.activate
def test_the_token_the_org_path_and_start_from_1(tmp_path):
    responses.add(responses.POST, URL, json={"results": [FACT, {**FACT, "id": 2}], "num_found": 3})
    responses.add(responses.POST, URL, json={"results": [{**FACT, "id": 3}], "num_found": 3})
    conn = make(Devices, BASE, CREDS, tmp_path, page_size=2, org_key=ORG)
    records, pages = drain(conn)
    assert [r["id"] for r in records] == [4455667, 2, 3] and pages == 2
    first, second = (c.request for c in responses.calls)
    assert first.headers["X-Auth-Token"] == "SIMSECRETKEY0123456789AB/SIMAPIID01"
    assert _body(first) == {"criteria": {"status": ["ALL"]}, "rows": 2, "start": 1}
    assert _body(second)["start"] == 3


def test_empty_one_and_many_with_page_2(sim, tmp_path):
    for size, pages in ((0, 1), (1, 1), (25, 3)):
        s = sim(size)
        records, got = drain(_sim_conn(s, tmp_path))
        assert {str(r["id"]) for r in records} == set(s.truth(VENDOR)) and got == pages


def test_a_wrong_token_and_another_orgs_key_are_refused(sim, tmp_path):
    s = sim(3)
    with pytest.raises(AuthError):
        drain(_sim_conn(s, tmp_path, creds={**CREDS, "api_id": "SIMAPIID02"}))
    with pytest.raises(AuthError, match="not authorized for org"):
        drain(_sim_conn(s, tmp_path, org_key="OTHER123"))


def test_a_bare_429_is_waited_out(sim, tmp_path):
    s = sim(25)
    s.set_faults(VENDOR, rate_limit_every=2)
    sleeps = Sleeps()
    records, _ = drain(_sim_conn(s, tmp_path, sleep=sleeps))
    assert len(records) == 25 and sleeps and all(w >= 0.5 for w in sleeps)


def test_every_sync_lists_every_device(sim, tmp_path):
    """No change filter for devices in the facts: a sync after a cursor still lists them all (changed ones
    with their new values); check-ins alone are volatile."""
    s = sim(20)
    conn = _sim_conn(s, tmp_path)
    drain(conn)
    changed = s.mutate(VENDOR, 0.25)
    later, _ = drain(conn, since=None)
    assert len(later) == 20
    truth = s.truth(VENDOR)
    assert all(r == truth[str(r["id"])] for r in later if r["id"] in changed)
    assert Devices.cursor_field is None and set(Devices.volatile_fields) == {"last_contact_time", "last_reported_time"}
