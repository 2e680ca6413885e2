"""Qualys detections: the XML answer flattened to detections, the truncation URL, 409 waits, SIMPLE_RETURN,
each QID's CVEs from the KnowledgeBase (the cache: tests/connectors/qualys/test_knowledge_base_cache.py)."""
from __future__ import annotations

import base64

import pytest
import responses

from connectors.qualys import CONNECTOR as QualysDetections
from connectors.qualys import knowledge_base
from nexus_sync.errors import VendorDataError
from nexus_sync.models import Vulnerability
from tests.connectors.util import Sleeps, drain, make

BASE = "https://qualysapi.qualys.test"
URL = f"{BASE}/api/2.0/fo/asset/host/vm/detection/"
KB_URL = f"{BASE}/api/2.0/fo/knowledge_base/vuln/"
CREDS = {"username": "quser", "password": "qpass"}
NEXT = f"{URL}?action=list&truncation_limit=1&id_min=7002"
HOST = """<HOST><ID>{id}</ID><IP>10.4.4.4</IP><TRACKING_METHOD>AGENT</TRACKING_METHOD>
  <OS><![CDATA[Ubuntu 22.04]]></OS><DNS><![CDATA[db-2.example]]></DNS>
  <DETECTION_LIST><DETECTION>
    <QID>105000</QID><TYPE>Confirmed</TYPE><SEVERITY>4</SEVERITY><PORT>443</PORT><PROTOCOL>tcp</PROTOCOL>
    <STATUS>Active</STATUS><FIRST_FOUND_DATETIME>2024-01-10T05:00:00Z</FIRST_FOUND_DATETIME>
    <LAST_FOUND_DATETIME>2024-05-31T22:10:00Z</LAST_FOUND_DATETIME>
    <LAST_UPDATE_DATETIME>2024-05-31T22:11:00Z</LAST_UPDATE_DATETIME><TIMES_FOUND>12</TIMES_FOUND>
  </DETECTION>{extra}</DETECTION_LIST></HOST>"""
NO_PORT = "<DETECTION><QID>38173</QID><SEVERITY>2</SEVERITY><STATUS>Fixed</STATUS></DETECTION>"


def doc(hosts: str, warning: str = "") -> str:
    return (f"<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE><DATETIME>2024-06-01T00:00:00Z</DATETIME>"
            f"<HOST_LIST>{hosts}</HOST_LIST>{warning}</RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>")


WARNING = (f"<WARNING><CODE>1980</CODE><TEXT>1 record limit exceeded. Use URL to get next batch of results.</TEXT>"
           f"<URL><![CDATA[{NEXT}]]></URL></WARNING>")


def kb(*vulns: tuple[int, list[str]]) -> str:
    """A KnowledgeBase answer: one VULN per (QID, CVEs); no CVE_LIST for a QID that names none."""
    def vuln(qid: int, cves: list[str]) -> str:
        listed = "".join(f"<CVE><ID><![CDATA[{c}]]></ID><URL><![CDATA[https://nvd.example/{c}]]></URL></CVE>"
                         for c in cves)
        return (f"<VULN><QID>{qid}</QID><VULN_TYPE>Vulnerability</VULN_TYPE><SEVERITY_LEVEL>3</SEVERITY_LEVEL>"
                f"<TITLE><![CDATA[check {qid}]]></TITLE>{f'<CVE_LIST>{listed}</CVE_LIST>' if cves else ''}</VULN>")
    listed = "".join(vuln(q, c) for q, c in vulns)
    return (f"<KNOWLEDGE_BASE_VULN_LIST_OUTPUT><RESPONSE><DATETIME>2024-06-01T00:00:00Z</DATETIME>"
            f"<VULN_LIST>{listed}</VULN_LIST></RESPONSE></KNOWLEDGE_BASE_VULN_LIST_OUTPUT>")


@pytest.fixture(autouse=True)
def no_cache(monkeypatch):
    """These tests see every KnowledgeBase call: no Redis cache (test_knowledge_base_cache.py has it)."""
    def unavailable():
        raise knowledge_base.SettingsError("no cache in these tests")

    monkeypatch.setattr(knowledge_base, "_redis", unavailable)


def connector(tmp_path, sleep=None, **config):
    return make(QualysDetections, BASE, CREDS, tmp_path, sleep=sleep, page_size=1, **config)


@responses.activate
def test_hosts_flatten_to_detections_and_warning_url_is_page_2(tmp_path):
    responses.add(responses.POST, URL, body=doc(HOST.format(id=7001, extra=NO_PORT), WARNING))
    responses.add(responses.POST, KB_URL, body=kb((105000, ["CVE-2024-0001"])))
    responses.add(responses.POST, NEXT, body=doc(HOST.format(id=7002, extra="")))
    conn = connector(tmp_path)
    records, pages = drain(conn)
    assert pages == 2 and responses.calls[2].request.url == NEXT
    assert [conn.source_id(r) for r in records] == ["7001:105000:443:tcp", "7001:38173::", "7002:105000:443:tcp"]
    assert records[0]["HOST"]["DNS"] == "db-2.example" and "DETECTION_LIST" not in records[0]["HOST"]
    sent = responses.calls[0].request
    assert sent.headers["X-Requested-With"] and sent.headers["Authorization"] == \
        "Basic " + base64.b64encode(b"quser:qpass").decode()
    assert "truncation_limit=1" in sent.url and "Fixed" in sent.url


def test_normalize_maps_qid_host_and_severity():
    records = [{"QID": "105000", "SEVERITY": "5", "STATUS": "Active", "_source_id": "7001:105000:443:tcp",
                "_cves": ["CVE-2023-48795", "CVE-2023-51385"],
                "FIRST_FOUND_DATETIME": "2024-01-10T05:00:00Z", "HOST": {"ID": "7001", "IP": "10.4.4.4"}}]
    data = Vulnerability.model_validate(QualysDetections.normalize(records[0]))
    assert (data.cve, data.asset_uid, data.severity, data.uid) == ("CVE-2023-48795", "7001", "critical",
                                                                    "7001:105000:443:tcp")
    no_cve = QualysDetections.normalize({**records[0], "_cves": []})
    assert no_cve["cve"] == "QID-105000"  # a check that names no CVE is known by its QID
    for odd in ({"SEVERITY": "0"}, {"SEVERITY": ""}):  # a severity outside 1-5: a defined fallback, not a loss
        assert QualysDetections.normalize({**records[0], **odd})["severity"] == "medium"
    assert QualysDetections.normalize({k: v for k, v in records[0].items() if k != "SEVERITY"})["severity"] == "medium"
    with pytest.raises(KeyError):  # no QID: the pipeline skips and reports the record
        QualysDetections.normalize({k: v for k, v in records[0].items() if k != "QID"})


def test_a_rescan_alone_is_not_a_change():
    """The detection's and its host's scan times (copied into every detection) move on every scan."""
    from nexus_sync.models import content_hash

    host = {"ID": "7001", "IP": "10.4.4.4", "LAST_SCAN_DATETIME": "2024-05-31T22:10:00Z",
            "LAST_VM_SCANNED_DATE": "2024-05-31T22:10:00Z", "LAST_VM_AUTH_SCANNED_DATE": "2024-05-31T22:10:00Z",
            "LAST_PC_SCANNED_DATE": "2024-05-30T02:00:00Z"}
    seen = {"QID": "105000", "SEVERITY": "4", "STATUS": "Active", "_source_id": "7001:105000:443:tcp",
            "_cves": ["CVE-2023-48795"], "LAST_FOUND_DATETIME": "2024-05-31T22:10:00Z", "TIMES_FOUND": "12",
            "LAST_TEST_DATETIME": "2024-05-31T22:10:00Z", "LAST_PROCESSED_DATETIME": "2024-05-31T22:40:00Z",
            "LAST_UPDATE_DATETIME": "2024-05-31T22:11:00Z", "HOST": host}
    later = "2024-06-07T22:10:00Z"
    rescanned = {**seen, "LAST_FOUND_DATETIME": later, "LAST_TEST_DATETIME": later, "TIMES_FOUND": "13",
                 "LAST_PROCESSED_DATETIME": later, "HOST": {**host, "LAST_SCAN_DATETIME": later,
                 "LAST_VM_SCANNED_DATE": later, "LAST_VM_AUTH_SCANNED_DATE": later, "LAST_PC_SCANNED_DATE": later}}

    def decided(raw):
        return content_hash(QualysDetections.normalize(raw), raw, QualysDetections.volatile_fields)

    assert decided(rescanned) == decided(seen)
    assert decided({**rescanned, "STATUS": "Fixed"}) != decided(seen)


@responses.activate
def test_each_qid_gets_its_cves_from_one_knowledge_base_call_per_page(tmp_path):
    """Detections carry QIDs only (§7): the page's distinct QIDs go to the KnowledgeBase in one call; a QID
    it lists without CVE_LIST, or does not list at all, names no CVE."""
    two = HOST.format(id=7001, extra=NO_PORT + NO_PORT.replace("38173", "90043"))
    responses.add(responses.POST, URL, body=doc(two))
    responses.add(responses.POST, KB_URL, body=kb((105000, ["CVE-2023-48795", "CVE-2023-51385"]), (38173, [])))
    conn = connector(tmp_path)
    records, _ = drain(conn)
    kb_calls = [c.request for c in responses.calls if c.request.url.startswith(KB_URL)]
    assert len(kb_calls) == 1
    sent = kb_calls[0]
    assert "ids=38173%2C90043%2C105000" in sent.url and "action=list" in sent.url and "details=All" in sent.url
    assert sent.headers["X-Requested-With"] and sent.headers["Authorization"].startswith("Basic ")
    by_qid = {r["QID"]: r for r in records}
    assert by_qid["105000"]["_cves"] == ["CVE-2023-48795", "CVE-2023-51385"]
    assert by_qid["38173"]["_cves"] == [] and by_qid["90043"]["_cves"] == []
    assert [QualysDetections.normalize(by_qid[q])["cve"] for q in ("105000", "38173", "90043")] == [
        "CVE-2023-48795", "QID-38173", "QID-90043"]


@responses.activate
def test_a_knowledge_base_error_fails_the_page(tmp_path):
    responses.add(responses.POST, URL, body=doc(HOST.format(id=7001, extra="")))
    responses.add(responses.POST, KB_URL, body="<SIMPLE_RETURN><RESPONSE><CODE>2003</CODE>"
                                               "<TEXT>Registration must be completed</TEXT></RESPONSE></SIMPLE_RETURN>")
    with pytest.raises(VendorDataError, match="qualys error 2003"):
        drain(connector(tmp_path))


@responses.activate
def test_an_answer_that_is_not_a_knowledge_base_list_is_bad_data_not_no_cves(tmp_path):
    responses.add(responses.POST, URL, body=doc(HOST.format(id=7001, extra="")))
    responses.add(responses.POST, KB_URL, body=doc(""))
    with pytest.raises(VendorDataError, match="KNOWLEDGE_BASE_VULN_LIST_OUTPUT"):
        drain(connector(tmp_path))


@responses.activate
def test_an_oracle_instance_is_its_own_detection(tmp_path):
    """One Oracle check on one port, for two database INSTANCEs: two detections, two keys."""
    oracle = "<DETECTION><QID>19724</QID><SEVERITY>3</SEVERITY><PORT>1521</PORT><PROTOCOL>tcp</PROTOCOL>" \
             "<INSTANCE>{}</INSTANCE><STATUS>Active</STATUS></DETECTION>"
    two = oracle.format("ORCL") + oracle.format("HR")
    responses.add(responses.POST, URL, body=doc(HOST.format(id=7001, extra=two)))
    responses.add(responses.POST, KB_URL, body=kb())
    conn = connector(tmp_path)
    records, _ = drain(conn)
    assert [conn.source_id(r) for r in records] == ["7001:105000:443:tcp", "7001:19724:1521:tcp:ORCL",
                                                    "7001:19724:1521:tcp:HR"]


@responses.activate
def test_409_waits_x_ratelimit_towait_sec(tmp_path):
    responses.add(responses.POST, URL, status=409, headers={"X-RateLimit-ToWait-Sec": "3"},
                  body="<SIMPLE_RETURN><RESPONSE><CODE>1965</CODE><TEXT>rate limit</TEXT></RESPONSE></SIMPLE_RETURN>")
    responses.add(responses.POST, URL, body=doc(HOST.format(id=7001, extra="")))
    responses.add(responses.POST, KB_URL, body=kb((105000, [])))
    sleeps = Sleeps()
    records, _ = drain(connector(tmp_path, sleep=sleeps))
    assert len(records) == 1 and sleeps == [3.0]


@responses.activate
def test_simple_return_with_http_200_is_an_error_not_an_empty_page(tmp_path):
    responses.add(responses.POST, URL, body="<SIMPLE_RETURN><RESPONSE><CODE>1901</CODE>"
                                            "<TEXT>Unrecognized parameter(s): foo</TEXT></RESPONSE></SIMPLE_RETURN>")
    with pytest.raises(VendorDataError, match="1901"):
        drain(connector(tmp_path))


@responses.activate
def test_incremental_sends_detection_updated_since(tmp_path):
    responses.add(responses.POST, URL, body=doc(""))
    records, _ = drain(connector(tmp_path), since="2024-05-31T22:11:00Z")
    assert records == [] and "detection_updated_since=2024-05-31T22%3A11%3A00Z" in responses.calls[0].request.url
