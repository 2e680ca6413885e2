"""Tenable export: X-ApiKeys, the job → status polls → one page per chunk, Retry-After, bad records."""
from __future__ import annotations

import json

import pytest
import responses

from connectors.tenable import CONNECTOR as TenableVulns
from nexus_sync.errors import VendorDataError
from nexus_sync.models import Vulnerability
from tests.connectors.util import Sleeps, drain, make

BASE = "https://cloud.tenable.test"
CREDS = {"access_key": "ak", "secret_key": "sk"}
UUID = "0b6a6c2e-1111-2222-3333-444455556666"
FINDING = {"finding_id": "3f2b1c0a-aaaa-bbbb-cccc-0123456789ab",
           "asset": {"uuid": "a1b2c3d4-0000-1111-2222-333344445555", "hostname": "app-3", "ipv4": "10.7.7.7"},
           "plugin": {"id": 156641, "name": "Example security update", "cve": ["CVE-2024-0001"],
                      "cvss3_base_score": 8.1, "vpr": {"score": 6.4}},
           "port": {"port": 443, "protocol": "TCP", "service": "www"}, "severity": "high", "severity_id": 3,
           "state": "OPEN", "first_found": "2024-02-01T01:02:03.456Z", "last_found": "2024-06-01T04:05:06.789Z",
           "source": "NESSUS"}


def _export(rsps, statuses, chunks):
    rsps.add(responses.POST, f"{BASE}/vulns/export", json={"export_uuid": UUID})
    for st in statuses:
        rsps.add(responses.GET, f"{BASE}/vulns/export/{UUID}/status", json=st)
    for cid, body in chunks.items():
        rsps.add(responses.GET, f"{BASE}/vulns/export/{UUID}/chunks/{cid}", json=body)


def test_normalize_finding():
    data = Vulnerability.model_validate(TenableVulns.normalize(FINDING))
    assert (data.cve, data.asset_uid, data.severity, data.cvss, data.status) == (
        "CVE-2024-0001", FINDING["asset"]["uuid"], "high", 8.1, "OPEN")
    no_cve = {**FINDING, "plugin": {"id": 19506, "name": "Nessus Scan Information"}}
    assert TenableVulns.normalize(no_cve)["cve"] == "PLUGIN-19506"
    with pytest.raises(KeyError):  # no asset: invalid, the pipeline skips and reports it
        TenableVulns.normalize({k: v for k, v in FINDING.items() if k != "asset"})


def test_a_rescan_alone_is_not_a_change():
    """last_found, indexed and the scan that saw the finding move on every rescan: heartbeats (the cartography
    fixture cited by §8 shows indexed and scan{uuid, started_at, ...})."""
    from nexus_sync.models import content_hash

    seen = {**FINDING, "indexed": "2024-06-01T04:15:00.000000Z",
            "scan": {"uuid": "270b911b-1fe6-4760-8c49-88d315cb764e", "started_at": "2024-06-01T04:00:00.000Z"}}
    rescanned = {**seen, "last_found": "2024-06-08T04:05:06.789Z", "indexed": "2024-06-08T04:15:00.000000Z",
                 "scan": {"uuid": "e86252a3-8dc0-43b6-8ddd-afb219d040ed", "started_at": "2024-06-08T04:00:00.000Z"}}

    def decided(raw):
        return content_hash(TenableVulns.normalize(raw), raw, TenableVulns.volatile_fields)

    assert decided(rescanned) == decided(seen)
    assert decided({**rescanned, "state": "FIXED"}) != decided(seen)


@responses.activate
def test_export_polls_until_finished_then_one_page_per_chunk(tmp_path):
    _export(responses, [{"status": "PROCESSING", "chunks_available": []},
                        {"status": "FINISHED", "chunks_available": [2, 1]}],
            {1: [FINDING], 2: [dict(FINDING, finding_id="f2")]})
    sleeps = Sleeps()
    conn = make(TenableVulns, BASE, CREDS, tmp_path, sleep=sleeps, page_size=50)
    processing = conn.fetch_page(None, None)  # not finished: fetched again later, the worker never sleeps
    assert processing.records == [] and processing.wait == 3 and not sleeps
    assert processing.next == {"job": UUID, "waited": 3.0}
    first = conn.fetch_page(processing.next, None)
    assert [r["finding_id"] for r in first.records] == [FINDING["finding_id"]]
    assert first.next == {"job": UUID, "chunks": [2]} and first.wait is None
    second = conn.fetch_page(first.next, None)
    assert [r["finding_id"] for r in second.records] == ["f2"] and second.next is None
    job = responses.calls[0].request
    assert job.headers["X-ApiKeys"] == "accessKey=ak;secretKey=sk"
    assert json.loads(job.body) == {"num_assets": 50, "filters": {"state": ["OPEN", "REOPENED", "FIXED"]}}


@responses.activate
def test_incremental_sends_since_as_epoch_and_empty_export_is_one_page(tmp_path):
    _export(responses, [{"status": "FINISHED", "chunks_available": []}], {})
    records, pages = drain(make(TenableVulns, BASE, CREDS, tmp_path), since="2024-06-01T04:05:06.789Z")
    assert records == [] and pages == 1
    assert json.loads(responses.calls[0].request.body)["filters"]["since"] == 1717214706


@responses.activate
def test_429_retry_after_is_waited_out(tmp_path):
    responses.add(responses.POST, f"{BASE}/vulns/export", status=429, headers={"Retry-After": "2"})
    _export(responses, [{"status": "FINISHED", "chunks_available": [1]}], {1: [FINDING]})
    sleeps = Sleeps()
    records, _ = drain(make(TenableVulns, BASE, CREDS, tmp_path, sleep=sleeps))
    assert len(records) == 1 and sleeps == [2.0]


@responses.activate
def test_failed_export_is_an_error(tmp_path):
    _export(responses, [{"status": "ERROR", "chunks_available": []}], {})
    with pytest.raises(VendorDataError, match="ERROR"):
        drain(make(TenableVulns, BASE, CREDS, tmp_path))


@responses.activate
def test_an_export_past_its_budget_fails_naming_the_connector_and_the_export(tmp_path):
    from connectors.machinery import JobFailed

    _export(responses, [{"status": "PROCESSING", "chunks_available": []}] * 3, {})
    conn = make(TenableVulns, BASE, CREDS, tmp_path, job_budget_seconds=5)
    page = conn.fetch_page(None, None)
    assert page.wait == 3 and page.next == {"job": UUID, "waited": 3.0}
    with pytest.raises(JobFailed, match=f"connector 'tenable-test': export {UUID} not finished after 3s") as err:
        conn.fetch_page(page.next, None)
    assert not err.value.retryable  # this export will not finish sooner for asking again
