"""Qualys detections: the XML answer flattened to detections, the truncation URL, 409 waits, SIMPLE_RETURN."""
from __future__ import annotations

import base64

import pytest
import responses

from connectors.qualys import CONNECTOR as QualysDetections
from nexus_sync.errors import VendorDataError
from nexus_sync.models import Vulnerability
from tests.connectors.util import Sleeps, drain, make

BASE = "https://qualysapi.qualys.test"
URL = f"{BASE}/api/2.0/fo/asset/host/vm/detection/"
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


def connector(tmp_path, sleep=None, **config):
    return make(QualysDetections, BASE, CREDS, tmp_path, sleep=sleep, page_size=1, **config)


@responses.activate
def test_hosts_flatten_to_detections_and_warning_url_is_page_2(tmp_path):
    responses.add(responses.POST, URL, body=doc(HOST.format(id=7001, extra=NO_PORT), WARNING))
    responses.add(responses.POST, NEXT, body=doc(HOST.format(id=7002, extra="")))
    conn = connector(tmp_path)
    records, pages = drain(conn)
    assert pages == 2 and responses.calls[1].request.url == NEXT
    assert [conn.source_id(r) for r in records] == ["7001:105000:443:tcp", "7001:38173::", "7002:105000:443:tcp"]
    assert records[0]["HOST"]["DNS"] == "db-2.example" and "DETECTION_LIST" not in records[0]["HOST"]
    sent = responses.calls[0].request
    assert sent.headers["X-Requested-With"] and sent.headers["Authorization"] == \
        "Basic " + base64.b64encode(b"quser:qpass").decode()
    assert "truncation_limit=1" in sent.url and "Fixed" in sent.url


def test_normalize_maps_qid_host_and_severity():
    records = [{"QID": "105000", "SEVERITY": "5", "STATUS": "Active", "_source_id": "7001:105000:443:tcp",
                "FIRST_FOUND_DATETIME": "2024-01-10T05:00:00Z", "HOST": {"ID": "7001", "IP": "10.4.4.4"}}]
    data = Vulnerability.model_validate(QualysDetections.normalize(records[0]))
    assert (data.cve, data.asset_uid, data.severity, data.uid) == ("QID-105000", "7001", "critical",
                                                                    "7001:105000:443:tcp")
    with pytest.raises(KeyError):  # no QID: the pipeline skips and reports the record
        QualysDetections.normalize({k: v for k, v in records[0].items() if k != "QID"})


@responses.activate
def test_409_waits_x_ratelimit_towait_sec(tmp_path):
    responses.add(responses.POST, URL, status=409, headers={"X-RateLimit-ToWait-Sec": "3"},
                  body="<SIMPLE_RETURN><RESPONSE><CODE>1965</CODE><TEXT>rate limit</TEXT></RESPONSE></SIMPLE_RETURN>")
    responses.add(responses.POST, URL, body=doc(HOST.format(id=7001, extra="")))
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
