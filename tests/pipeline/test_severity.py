"""Issue 13 item 5a: one 0-100 severity scale with a label, for every kind and vendor, set at normalize; through
every pipeline stage on the real stack, the stored rows carry it beside what the vendor said."""
from __future__ import annotations

from typing import Iterator

import pytest

from nexus_sync import severity
from nexus_sync.models import DATA_MODELS, fast_validator
from nexus_sync.simulator import Simulator
from tests.pipeline.helpers import run_inline, small_simulator, stored


def test_bands_cover_0_to_100_once_and_match_cvss_ratings():
    assert [severity.label(s) for s in (0, 9, 10, 39, 40, 69, 70, 89, 90, 100)] == [
        "info", "info", "low", "low", "medium", "medium", "high", "high", "critical", "critical"]
    assert all(severity.label(severity.TYPICAL[name]) == name for name in severity.LABELS)
    # CVSS refines the score inside the vendor's band, never moves the record out of it
    assert severity.score("critical", 9.8) == 98 and severity.score("high", 9.8) == 89
    assert severity.score("medium", 2.0) == 40 and severity.score("low", 3.1) == 31
    assert severity.score("medium") == 55 and severity.score("info") == 0


@pytest.mark.parametrize("kind,data,expected", [
    ("vulnerability", {"uid": "f", "cve": "CVE-2024-1", "asset_uid": "a", "severity": "Critical", "cvss": 9.8}, (98, "critical")),
    ("vulnerability", {"uid": "f", "cve": "CVE-2024-1", "asset_uid": "a", "severity": "Major"}, (80, "high")),
    ("incident", {"uid": "i", "title": "t", "severity": "Blocker", "time": "2024-01-01T00:00:00Z"}, (95, "critical")),
    ("event", {"uid": "e", "title": "t", "severity": "informational", "time": "2024-01-01T00:00:00Z"}, (0, "info")),
    ("asset", {"uid": "h"}, (0, "info")),  # no severity of its own
    ("asset", {"uid": "h", "severity_score": 72}, (72, "high")),  # a vendor's own risk score is kept
    ("user", {"uid": "u", "email": "a@b.example", "severity_label": "critical"}, (0, "info")),  # label: derived
])
def test_both_validation_paths_rate_every_kind(kind, data, expected):
    model = DATA_MODELS[kind]
    fast, slow = fast_validator(model)(dict(data)), model.model_validate(dict(data)).__dict__
    assert fast == slow and (fast["severity_score"], fast["severity_label"]) == expected


@pytest.fixture
def vendors() -> Iterator[Simulator]:
    with small_simulator(7, securityhub=60, qualys=40, crowdstrike=30, okta=30) as s:
        yield s


def test_stored_rows_carry_the_scale_beside_the_vendor_severity(vendors, make_connector):
    rows = {}
    for vendor in ("securityhub", "qualys", "crowdstrike", "okta"):
        conn = make_connector(vendors, vendor)
        _, report = run_inline(conn.name)
        assert report["status"] == "SUCCESS", report
        rows[vendor] = [data for data, _ in stored(conn.tenant_id).values()]
        assert rows[vendor]
    for vendor in ("securityhub", "qualys"):
        for data in rows[vendor]:
            assert data["severity_label"] == data["severity"], "the vendor's verdict is the band"
            lo, hi = severity.BANDS[data["severity"]]
            cvss = data.get("cvss")
            assert data["severity_score"] == (severity.TYPICAL[data["severity"]] if cvss is None
                                              else min(max(round(cvss * 10), lo), hi))
    assert any(d.get("cvss") is not None for d in rows["securityhub"]), "the simulator serves CVSS scores"
    assert {d["severity_label"] for d in rows["qualys"]} >= {"low", "medium", "high"}
    for vendor in ("crowdstrike", "okta"):
        assert {(d["severity_score"], d["severity_label"]) for d in rows[vendor]} == {(0, "info")}
