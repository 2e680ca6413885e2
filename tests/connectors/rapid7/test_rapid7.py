"""Rapid7 InsightVM assets: unit tests with `responses`; through the pipeline against the simulator: assets
without a MAC (routed, IPv6) all land, and a rescan updates the stored vendor record."""
from __future__ import annotations

import base64
from urllib.parse import parse_qs

import pytest
import responses

from connectors.rapid7 import CONNECTOR as Rapid7Assets
from nexus_sync.models import Asset
from tests.connectors.util import Sleeps, drain, make

BASE = "https://console.example:3780"
URL = f"{BASE}/api/3/assets"
CREDS = {"username": "nxadmin", "password": "pw"}
ASSET = {"id": 4242, "hostName": "FS-01.example.com", "ip": "10.2.3.4", "mac": "00:50:56:AA:BB:CC",
         "os": "Microsoft Windows Server 2019",
         "osFingerprint": {"family": "Windows", "product": "Windows Server 2019"}, "riskScore": 12345.6,
         "vulnerabilities": {"critical": 2, "severe": 10, "moderate": 3, "total": 15},
         "history": [{"date": "2024-05-30T02:00:00Z", "type": "SCAN", "scanId": 991},
                     {"date": "2023-01-02T02:00:00Z", "type": "SCAN", "scanId": 17}]}


def _page(assets, number, total_pages):
    return {"resources": assets, "page": {"number": number, "size": 1, "totalPages": total_pages,
                                          "totalResources": total_pages},
            "links": [{"href": f"{URL}?page={number}&size=1", "rel": "self"}]}


def test_normalize_maps_the_skeleton_asset():
    data = Asset.model_validate(Rapid7Assets.normalize(ASSET))
    assert data.uid == "4242" and data.hostname == "fs-01.example.com" and data.macs == ["00:50:56:aa:bb:cc"]
    assert data.ips == ["10.2.3.4"] and data.os_name == "Windows Server 2019"
    assert data.first_seen_time == "2023-01-02T02:00:00Z" and data.last_seen_time == "2024-05-30T02:00:00Z"


def test_an_asset_without_id_is_invalid():
    with pytest.raises(KeyError):
        Rapid7Assets.normalize({k: v for k, v in ASSET.items() if k != "id"})


@responses.activate
def test_pages_from_zero_until_total_pages_with_basic_auth(tmp_path):
    responses.add(responses.GET, URL, json=_page([ASSET], 0, 2))
    responses.add(responses.GET, URL, json=_page([dict(ASSET, id=4243)], 1, 2))
    conn = make(Rapid7Assets, BASE, CREDS, tmp_path, page_size=1)
    records, pages = drain(conn)
    assert [conn.source_id(r) for r in records] == ["4242", "4243"] and pages == 2
    first, second = (parse_qs(c.request.url.split("?", 1)[1]) for c in responses.calls)
    assert first["page"] == ["0"] and second["page"] == ["1"] and second["size"] == ["1"]
    assert first["sort"] == ["id,ASC"]
    expected = "Basic " + base64.b64encode(b"nxadmin:pw").decode()
    assert responses.calls[0].request.headers["Authorization"] == expected


@responses.activate
def test_bare_429_is_backed_off_and_retried(tmp_path):
    responses.add(responses.GET, URL, status=429, json={"status": 429, "message": "Too many requests"})
    responses.add(responses.GET, URL, json=_page([ASSET], 0, 1))
    sleeps = Sleeps()
    records, _ = drain(make(Rapid7Assets, BASE, CREDS, tmp_path, sleep=sleeps))
    assert len(records) == 1 and sleeps == [1.0]


def test_an_address_without_a_mac_keeps_the_asset_and_its_ips():
    routed = {k: v for k, v in ASSET.items() if k != "mac"} | {
        "addresses": [{"ip": "10.2.3.4"}, {"ip": "2001:db8::7"}]}
    data = Asset.model_validate(Rapid7Assets.normalize(routed))
    assert data.macs == [] and data.ips == ["10.2.3.4", "2001:db8::7"]


# ---------------------------------------------------------------- through the pipeline (simulator, real stack)

@pytest.fixture
def rapid7_sim():
    from nexus_sync.simulator import SimConfig, Simulator

    s = Simulator(SimConfig(seed=11, sizes={"rapid7": 750})).start()
    yield s
    s.stop()


def test_every_asset_lands_when_addresses_have_no_mac(rapid7_sim, make_connector):
    """Fidelity #9: assets scanned across a router or with IPv6 entries have no MAC; all 750 land, IPs intact."""
    from tests.pipeline.helpers import raw_rows, run_inline

    truth = rapid7_sim.truth("rapid7")
    without_mac = {i for i, a in truth.items() if any("mac" not in x for x in a["addresses"])}
    assert len(without_mac) > 150  # the simulator serves them (about a third)
    conn = make_connector(rapid7_sim, "rapid7", page_size=500)
    _, report = run_inline(conn.name)
    rows = {r.source_id: r for r in raw_rows(conn.tenant_id)}
    assert report["status"] == "SUCCESS" and report["records"]["new"] == len(rows) == len(truth) == 750
    for sid in without_mac:
        assert set(rows[sid].data["ips"]) == {x["ip"] for x in truth[sid]["addresses"]}
        assert rows[sid].data["macs"] == [m.lower() for m in [truth[sid].get("mac")] if m]


def test_a_rescan_updates_the_stored_vendor_record(rapid7_sim, make_connector):
    """Fidelity #10: a rescan changes riskScore, vulnerability counts and the scan history, none of them a
    normalized field but the (volatile) scan date; every rescanned asset is UPDATED and stores what the vendor
    now says."""
    from nexus_sync import db
    from tests.pipeline.helpers import run_inline

    conn = make_connector(rapid7_sim, "rapid7", page_size=500)
    run_inline(conn.name)
    rescanned = rapid7_sim.vendor("rapid7").rescan(100 / 750)
    _, report = run_inline(conn.name)
    truth = rapid7_sim.truth("rapid7")
    with db.get_engine().connect() as c:
        stored = {r.source_id: r.raw_data for r in c.execute(db.raw_data.select().where(
            db.raw_data.c.tenant_id == conn.tenant_id))}
    assert report["records"]["updated"] == len(rescanned) == 100
    assert report["records"]["unchanged"] == 750 - 100
    for sid in map(str, rescanned):
        for field in ("riskScore", "vulnerabilities", "history"):
            assert stored[sid][field] == truth[sid][field], (sid, field)
