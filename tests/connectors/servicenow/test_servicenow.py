"""ServiceNow CMDB: Basic auth, the table config field, Link rel="next" paging, the sys_updated_on cursor."""
from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.servicenow import CONNECTOR as ServiceNowCIs
from nexus_sync.models import Asset
from tests.connectors.util import Sleeps, drain, make

BASE = "https://acme.service-now.test"
CREDS = {"username": "svc", "password": "pw"}
CI = {"sys_id": "0123456789abcdef0123456789abcdef", "name": "srv-erp-01", "ip_address": "10.30.1.5",
      "mac_address": "00-50-56-12-34-56", "os": "Linux Red Hat", "os_version": "8.9", "serial_number": "VMW-1234",
      "sys_class_name": "cmdb_ci_linux_server", "install_status": "1", "sys_updated_on": "2024-06-01 08:15:00",
      "fqdn": ""}


def test_normalize_ci():
    data = Asset.model_validate(ServiceNowCIs.normalize(CI))
    assert (data.hostname, data.ips, data.macs, data.state, data.type, data.modified_time) == (
        "srv-erp-01", ["10.30.1.5"], ["00:50:56:12:34:56"], "installed", "cmdb_ci_linux_server",
        "2024-06-01T08:15:00Z")
    with pytest.raises(ValueError):  # a malformed MAC makes the record invalid: skipped and reported
        Asset.model_validate(ServiceNowCIs.normalize({**CI, "mac_address": "not-a-mac"}))


@responses.activate
def test_link_next_is_page_2_and_table_comes_from_config(tmp_path):
    url = f"{BASE}/api/now/table/cmdb_ci_server"
    nxt = f"{url}?sysparm_limit=1&sysparm_offset=1&sysparm_query=ORDERBYsys_id"
    responses.add(responses.GET, url, json={"result": [CI]}, headers={
        "X-Total-Count": "2", "Link": f'<{url}?sysparm_offset=0>;rel="first",<{nxt}>;rel="next",<{nxt}>;rel="last"'})
    responses.add(responses.GET, nxt, json={"result": [dict(CI, sys_id="f" * 32)]},
                  headers={"X-Total-Count": "2", "Link": f'<{url}?sysparm_offset=0>;rel="first"'})
    records, pages = drain(make(ServiceNowCIs, BASE, CREDS, tmp_path, page_size=1, table="cmdb_ci_server"))
    assert [r["sys_id"] for r in records] == [CI["sys_id"], "f" * 32] and pages == 2
    first = responses.calls[0].request
    assert first.headers["Authorization"] == "Basic " + base64.b64encode(b"svc:pw").decode()
    assert parse_qs(urlsplit(first.url).query)["sysparm_limit"] == ["1"]
    assert responses.calls[1].request.url == nxt


@responses.activate
def test_cursor_goes_into_sysparm_query_and_429_is_waited_out(tmp_path):
    url = f"{BASE}/api/now/table/cmdb_ci"
    responses.add(responses.GET, url, status=429, headers={"Retry-After": "3", "X-RateLimit-Reset": "1"},
                  json={"error": {"message": "Rate limit exceeded"}, "status": "failure"})
    responses.add(responses.GET, url, json={"result": []})
    sleeps = Sleeps()
    records, _ = drain(make(ServiceNowCIs, BASE, CREDS, tmp_path, sleep=sleeps), since="2024-06-01 08:15:00")
    assert records == [] and sleeps == [3.0]
    query = parse_qs(urlsplit(responses.calls[-1].request.url).query)
    assert query["sysparm_query"] == ["sys_updated_on>2024-06-01 08:15:00^ORDERBYsys_id"]
