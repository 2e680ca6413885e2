"""Rapid7 InsightVM assets: unit tests with `responses` (the contract runs against the simulator)."""
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
