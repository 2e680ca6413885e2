"""Fidelity: loopback, unspecified and placeholder addresses are no device's identity; a list field takes
None entries and lone scalars; Jira's classic priorities have a severity. Both validation paths agree."""
from __future__ import annotations

import pytest

from nexus_sync.models import DATA_MODELS, fast_validator, severity

ASSET = DATA_MODELS["asset"]
FAST = fast_validator(ASSET)


def both(raw: dict) -> dict:
    slow = ASSET.model_validate(raw).model_dump()
    fast = FAST(raw)
    assert {k: fast.get(k, slow[k]) for k in slow} == slow
    return slow


def test_loopback_unspecified_and_all_zero_addresses_are_dropped():
    data = both({"uid": "a1", "ips": ["127.0.0.1", "::1", "10.0.0.5", "0.0.0.0", "::", "fe80::1", "127.9.9.9"],
                 "macs": ["00:00:00:00:00:00", "AA-BB-CC-DD-EE-FF", "00-00-00-00-00-00"]})
    assert data["ips"] == ["10.0.0.5", "fe80::1"]
    assert data["macs"] == ["aa:bb:cc:dd:ee:ff"]
    assert both({"uid": "a2", "ips": ["127.0.0.1"], "macs": ["00:00:00:00:00:00"]})["ips"] == []


def test_an_address_without_a_mac_keeps_the_asset():
    """Rapid7: an address scanned across a router (or IPv6) has no MAC: a None in the list."""
    data = both({"uid": "a3", "ips": ["10.1.1.1", None, "2001:db8::5"], "macs": [None, "00:50:56:aa:bb:cc", None]})
    assert data["macs"] == ["00:50:56:aa:bb:cc"] and data["ips"] == ["10.1.1.1", "2001:db8::5"]
    assert both({"uid": "a4", "ips": "10.2.2.2", "macs": None})["ips"] == ["10.2.2.2"]


@pytest.mark.parametrize("name,expected", [("Blocker", "critical"), ("Critical", "critical"), ("Major", "high"),
                                           ("Minor", "low"), ("Trivial", "info")])
def test_jira_classic_priorities_have_a_severity(name, expected):
    assert severity(name) == expected
