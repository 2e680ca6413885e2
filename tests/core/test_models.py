"""The normalized model's helpers: timestamps, addresses, and the fast validation path against pydantic."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from nexus_sync.models import (
    Asset,
    SecurityEvent,
    User,
    Vulnerability,
    canonical_ip,
    canonical_mac,
    fast_validator,
    identity_key,
    utc_iso,
)


@pytest.mark.parametrize("raw, expected", [
    ("2024-04-17T05:51:18Z", "2024-04-17T05:51:18Z"),
    ("2024-04-17T05:51:18.120Z", "2024-04-17T05:51:18.120000Z"),
    ("2024-04-17T05:51:18.1234567Z", "2024-04-17T05:51:18.123456Z"),  # MDE's 7 digits
    ("2024-04-17T07:51:18+02:00", "2024-04-17T05:51:18Z"),
    ("2024-04-17 05:51:18", "2024-04-17T05:51:18Z"),  # no offset: UTC
    (" 2024-04-17T05:51:18Z ", "2024-04-17T05:51:18Z"),
    (1713333078, "2024-04-17T05:51:18Z"),
    (1713333078123, "2024-04-17T05:51:18.123000Z"),  # epoch ms
    (None, None), ("", None),
])
def test_utc_iso(raw, expected):
    assert utc_iso(raw) == expected


def test_utc_iso_rejects_garbage():
    with pytest.raises(ValueError):
        utc_iso("yesterday")


@pytest.mark.parametrize("raw, expected", [
    ("10.0.0.1", "10.0.0.1"), (" 10.0.0.1 ", "10.0.0.1"), ("0.0.0.0", "0.0.0.0"),
    ("2001:DB8::0:1", "2001:db8::1"), ("::ffff:10.0.0.1", "::ffff:a00:1"),
])
def test_canonical_ip(raw, expected):
    assert canonical_ip(raw) == expected


@pytest.mark.parametrize("bad", ["10.0.0.256", "10.0.0", "010.0.0.1", "10.0.0.1.2", "10.0.0.x", "١٠.0.0.1"])
def test_canonical_ip_rejects(bad):
    with pytest.raises(ValueError):
        canonical_ip(bad)


@pytest.mark.parametrize("raw", ["AA-BB-CC-DD-EE-FF", "aa:bb:cc:dd:ee:ff", "AABBCCDDEEFF", "aabb.ccdd.eeff"])
def test_canonical_mac(raw):
    assert canonical_mac(raw) == "aa:bb:cc:dd:ee:ff"


def test_canonical_mac_rejects():
    with pytest.raises(ValueError):
        canonical_mac("aa:bb:cc")


CASES = [
    (Asset, {"uid": "h1", "hostname": "Web-1.Corp.", "ips": ["10.0.0.2", "10.0.0.1", "10.0.0.2", ""],
             "macs": ["AA-BB-CC-DD-EE-FF"], "cloud": {"provider": "aws"}}),
    (Asset, {"uid": "h1", "ips": ["2001:DB8::1"]}),
    (Asset, {"uid": "h1", "tags": ("a", "b")}),  # a tuple: pydantic converts it, the fast path hands over
    (Vulnerability, {"uid": "v", "cve": "CVE-1", "asset_uid": "a", "severity": 4, "cvss": 9}),
    (Vulnerability, {"uid": "v", "cve": "CVE-1", "asset_uid": "a", "severity": "Severe", "cvss": "7.5"}),
    (User, {"uid": "u", "email": " Ann@Example.COM ", "mfa": True}),
    (User, {"uid": "u", "email": "a@b", "mfa": "true"}),
    (SecurityEvent, {"uid": "e", "title": "t", "severity": "Informational", "time": "2024-01-01T00:00:00Z"}),
]
BAD = [
    (Asset, {"uid": "h1", "surprise": 1}),  # unknown field
    (Asset, {"hostname": "x"}),  # uid missing
    (Asset, {"uid": "h1", "macs": ["zz"]}),
    (Asset, {"uid": 7}),
    (User, {"uid": "u", "email": "no-at-sign"}),
    (Vulnerability, {"uid": "v", "cve": "CVE-1", "asset_uid": "a", "severity": "meh"}),
    (Vulnerability, {"uid": "v", "cve": "CVE-1", "asset_uid": "a", "severity": "low", "cvss": "high"}),
]


@pytest.mark.parametrize("model, data", CASES)
def test_fast_path_equals_pydantic(model, data):
    got = fast_validator(model)(dict(data))
    assert list(got.items()) == list(model.model_validate(dict(data)).__dict__.items())


@pytest.mark.parametrize("model, data", BAD)
def test_fast_path_raises_pydantics_error(model, data):
    with pytest.raises(ValidationError) as fast_error:
        fast_validator(model)(dict(data))
    with pytest.raises(ValidationError) as slow_error:
        model.model_validate(dict(data))
    assert fast_error.value.errors(include_context=False) == slow_error.value.errors(include_context=False)


def test_identity_of_an_event_is_its_five_minute_window():
    base = {"uid": "e", "title": "t", "severity": "low"}
    a = identity_key("event", "s", {**base, "time": "2024-01-01T00:01:00Z"})
    b = identity_key("event", "s", {**base, "time": "2024-01-01T00:04:59Z"})
    c = identity_key("event", "s", {**base, "time": "2024-01-01T00:05:00Z"})
    assert a == b != c


@pytest.mark.parametrize("bad", ["2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-01-01T24:00:00Z"])
def test_utc_iso_rejects_impossible_instants_in_canonical_form(bad):
    with pytest.raises(ValueError):
        utc_iso(bad)
