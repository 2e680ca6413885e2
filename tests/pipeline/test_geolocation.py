"""Issue 13 item 5b: public IPs located at normalize from the data shipped in a pip package (iptocc), through
every stage on the real stack; private, CGNAT, documentation, multicast … addresses get no location."""
from __future__ import annotations

import ipaddress
import random
from typing import Any, Iterator

import pytest

from nexus_sync import geo
from nexus_sync.simulator import Simulator
from tests.pipeline.helpers import run_inline, small_simulator, stored

# address → the country iptocc's registry data gives (None: not an address on the internet)
ADDRESSES = {"81.2.69.142": "GB", "8.8.8.8": "US", "2001:4860:4860::8888": "US", "1.0.16.1": "JP",
             "10.20.30.40": None, "172.16.5.4": None, "192.168.1.1": None, "100.64.3.4": None,
             "169.254.7.7": None, "198.51.100.9": None, "224.0.0.251": None, "fd00::5": None, "fe80::1": None}

ALSO_OUT = (ipaddress.IPv4Network("192.0.0.0/24"), ipaddress.IPv4Network("192.88.99.0/24"))


@pytest.fixture
def cs_sim() -> Iterator[Simulator]:
    with small_simulator(31, crowdstrike=30) as s:
        yield s


def set_external_ips(sim: Simulator, addresses: list[str]) -> dict[str, str]:
    """The first hosts' `external_ip` (CrowdStrike's egress address) set to `addresses`: host id → address."""
    vendor: Any = sim.vendor("crowdstrike")
    with vendor.lock:
        ids = vendor.order[:len(addresses)]
        for rid, ip in zip(ids, addresses):
            vendor.records[rid] = {**vendor.records[rid], "external_ip": ip}
        vendor.version += 1
        vendor.on_data_changed()
    return dict(zip(ids, addresses))


def test_a_public_ip_gets_its_country_and_a_private_one_none(cs_sim, make_connector):
    hosts = set_external_ips(cs_sim, list(ADDRESSES))
    conn = make_connector(cs_sim, "crowdstrike")
    _, report = run_inline(conn.name)
    rows = stored(conn.tenant_id)
    assert report["status"] == "SUCCESS" and report["records"]["invalid"] == 0
    for rid, ip in hosts.items():
        data = rows[rid][0]
        assert ip in data["ips"]  # the address itself is kept either way
        assert data["geo"].get(ip) == ({"country": ADDRESSES[ip]} if ADDRESSES[ip] else None), (ip, data["geo"])
        assert set(data["geo"]) <= {ip}  # the host's own (private) local_ip is never located
    # the simulator's other hosts egress from documentation ranges (TEST-NET-1/2/3): located nowhere
    assert all(data["geo"] == {} for rid, (data, _) in rows.items() if rid not in hosts)


def test_a_failed_lookup_leaves_the_address_without_a_location_and_the_record_lands(cs_sim, make_connector,
                                                                                    monkeypatch):
    hosts = set_external_ips(cs_sim, ["81.2.69.142", "8.8.8.8"])
    real = geo.country_code

    def failing(ip: str) -> str | None:
        if ip == "8.8.8.8":
            raise RuntimeError("the data is unreadable")
        return real(ip)

    monkeypatch.setattr(geo, "country_code", failing)
    conn = make_connector(cs_sim, "crowdstrike")
    _, report = run_inline(conn.name)
    rows = stored(conn.tenant_id)
    assert report["status"] == "SUCCESS" and report["records"]["invalid"] == 0 and len(rows) == 30
    by_ip = {ip: rows[rid][0]["geo"] for rid, ip in hosts.items()}
    assert by_ip == {"81.2.69.142": {"81.2.69.142": {"country": "GB"}}, "8.8.8.8": {}}


def test_the_public_test_agrees_with_ipaddress_on_every_special_range():
    """geo's integer table (fast) against the standard library's properties (slow), at each special range's
    edges and around them, and on random addresses. geo also leaves out all of 192.0.0.0/24 (IETF protocol
    assignments: Python counts a few of them global) and 192.88.99.0/24 (6to4 relay anycast, deprecated)."""
    def reference(ip: str) -> bool:
        a = ipaddress.IPv4Address(ip)
        return a.is_global and not a.is_multicast and not a.is_reserved and not any(a in n for n in ALSO_OUT)

    samples = set()
    for start, end in geo._V4_RANGES:
        for n in (start - 1, start, start + 1, end - 1, end, end + 1):
            if 0 <= n < 2 ** 32:
                samples.add(str(ipaddress.IPv4Address(n)))
    rng = random.Random(13)
    samples.update(str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(20000))
    wrong = [ip for ip in samples if (geo.public_address(ip) is not None) != reference(ip)]
    assert wrong == []
    assert {ip: geo.locate(ip) for ip in ADDRESSES} == \
        {ip: {"country": cc} if cc else None for ip, cc in ADDRESSES.items()}
    assert geo.locate("::ffff:81.2.69.142") == {"country": "GB"}  # an IPv4-mapped address is its IPv4
