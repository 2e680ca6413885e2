"""Issue 10 finding 1: a URL a vendor names (Link header, @odata.nextLink, Qualys WARNING/URL, a job id in a
path) is used only on the connector's own scheme://host:port. A second real server on another port plays the
attacker's host: it must never receive a request, let alone the credentials."""
from __future__ import annotations

import json

import pytest
import responses

import connectors
from nexus_sync.errors import ConfigError
from tests.connectors.local_server import LocalServer
from tests.connectors.util import drain, make

OKTA_USER = {"id": "00u1", "status": "ACTIVE", "lastUpdated": "2024-05-20T12:00:00.000Z",
             "profile": {"login": "a@example.com", "email": "a@example.com"}}


@pytest.fixture
def servers():
    with LocalServer() as vendor, LocalServer() as attacker:
        yield vendor, attacker


def _refused(conn, attacker: LocalServer, secret: str) -> ConfigError:
    """Drain conn; the attacker got nothing; the error is a security failure naming the connector and the
    foreign origin, never the secret."""
    try:
        drain(conn)
        error = None
    except ConfigError as exc:
        error = exc
    assert attacker.received == [], f"the foreign host was sent {attacker.received[0].headers}"
    assert error is not None, "a foreign next link was followed or ignored, not refused"
    assert error.failure_type == "security"
    assert conn.ctx.name in str(error) and attacker.url.replace("http://", "") in str(error)
    assert secret not in str(error)
    return error


def test_okta_link_header_to_another_port_is_refused_and_gets_no_ssws_token(servers, tmp_path):
    vendor, attacker = servers
    vendor.add("GET", "/api/v1/users", json.dumps([OKTA_USER]),
               headers={"Link": f'<{attacker.url}/api/v1/users?after=00u1>; rel="next"'})
    _refused(make(connectors.get("okta"), vendor.url, {"token": "okta-canary-token"}, tmp_path),
             attacker, "okta-canary-token")


def test_okta_relative_next_link_is_followed_on_the_base_origin(servers, tmp_path):
    vendor, attacker = servers
    vendor.add("GET", "/api/v1/users", json.dumps([OKTA_USER]),
               headers={"Link": '</api/v1/users?after=00u1&limit=1>; rel="next"'})
    vendor.add("GET", "/api/v1/users", json.dumps([dict(OKTA_USER, id="00u2")]))
    vendor.add("GET", "/api/v1/users", "[]")  # the DEPROVISIONED pass
    records, pages = drain(make(connectors.get("okta"), vendor.url, {"token": "okta-canary-token"}, tmp_path,
                                page_size=1))
    assert [r["id"] for r in records] == ["00u1", "00u2"] and pages == 3
    second = vendor.received[1]
    assert second.path == "/api/v1/users?after=00u1&limit=1"
    assert second.headers["Authorization"] == "SSWS okta-canary-token"


@responses.activate
def test_an_http_next_link_from_an_https_base_is_a_downgrade_and_refused(tmp_path):
    base = "https://acme.okta.test"
    sent = []
    responses.add(responses.GET, f"{base}/api/v1/users", json=[OKTA_USER],
                  headers={"Link": '<http://acme.okta.test/api/v1/users?after=00u1>; rel="next"'})
    responses.add_callback(responses.GET, "http://acme.okta.test/api/v1/users",
                           callback=lambda req: (sent.append(dict(req.headers)), (200, {}, "[]"))[1])
    with pytest.raises(ConfigError) as err:
        drain(make(connectors.get("okta"), base, {"token": "okta-canary-token"}, tmp_path))
    assert sent == [] and err.value.failure_type == "security"
    assert "http://acme.okta.test:80" in str(err.value) and "okta-canary-token" not in str(err.value)


def test_entra_odata_next_link_to_another_port_gets_no_bearer_token(servers, tmp_path):
    vendor, attacker = servers
    from connectors.machinery import OAuth2ClientCredentials

    OAuth2ClientCredentials._tokens.clear()
    vendor.add("POST", "/token", json.dumps({"access_token": "entra-canary-access-token", "expires_in": 3599}))
    vendor.add("GET", "/v1.0/users/delta", json.dumps({  # a full sync first takes the latest delta link
        "value": [], "@odata.deltaLink": f"{vendor.url}/v1.0/users/delta?$deltatoken=x"}))
    vendor.add("GET", "/v1.0/users", json.dumps({
        "value": [{"id": "u1", "userPrincipalName": "a@contoso.com"}],
        "@odata.nextLink": f"{attacker.url}/v1.0/users?$skiptoken=x"}))
    conn = make(connectors.get("entra"), vendor.url, {"client_id": "cid", "client_secret": "entra-canary-secret"},
                tmp_path, tenant="t", token_url=f"{vendor.url}/token")
    _refused(conn, attacker, "entra-canary-access-token")
    assert vendor.received[2].headers["Authorization"] == "Bearer entra-canary-access-token"  # page 1 had it


def test_servicenow_link_header_to_another_port_gets_no_basic_credentials(servers, tmp_path):
    vendor, attacker = servers
    vendor.add("GET", "/api/now/table/cmdb_ci", json.dumps({"result": [{"sys_id": "a" * 32}]}),
               headers={"Link": f'<{attacker.url}/api/now/table/cmdb_ci?sysparm_offset=1>;rel="next"'})
    conn = make(connectors.get("servicenow"), vendor.url, {"username": "admin", "password": "sn-canary-pass"},
                tmp_path)
    _refused(conn, attacker, "sn-canary-pass")


QUALYS_PAGE = """<?xml version="1.0"?><HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE>
<DATETIME>2024-06-01T00:00:00Z</DATETIME><HOST_LIST><HOST><ID>7001</ID><IP>10.4.4.4</IP>
<DETECTION_LIST><DETECTION><QID>105000</QID><SEVERITY>4</SEVERITY></DETECTION></DETECTION_LIST></HOST></HOST_LIST>
<WARNING><CODE>1980</CODE><TEXT>1 record limit exceeded. Use URL to get next batch of results.</TEXT>
<URL><![CDATA[{url}/api/2.0/fo/asset/host/vm/detection/?action=list&id_min=7002]]></URL></WARNING>
</RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>"""


def test_qualys_truncation_url_to_another_port_gets_no_basic_credentials(servers, tmp_path):
    vendor, attacker = servers
    vendor.add("POST", "/api/2.0/fo/asset/host/vm/detection/", QUALYS_PAGE.replace("{url}", attacker.url),
               content_type="text/xml")
    conn = make(connectors.get("qualys"), vendor.url, {"username": "qu", "password": "qualys-canary-pass"},
                tmp_path)
    _refused(conn, attacker, "qualys-canary-pass")


def test_splunk_job_id_enters_the_url_as_one_quoted_path_segment(servers, tmp_path):
    vendor, _ = servers
    sid = "1717243200.1/../../../../evil?x=1#"
    vendor.add("POST", "/services/search/jobs", json.dumps({"sid": sid}))
    quoted = "/services/search/jobs/1717243200.1%2F..%2F..%2F..%2F..%2Fevil%3Fx%3D1%23"
    vendor.add("GET", quoted, json.dumps({"entry": [{"content": {"dispatchState": "DONE", "resultCount": 0}}]}))
    vendor.add("GET", quoted + "/results", json.dumps({"results": []}))
    records, _ = drain(make(connectors.get("splunk"), vendor.url, {"token": "splunk-canary"}, tmp_path))
    assert records == [] and [r.path.split("?")[0] for r in vendor.received[1:]] == [quoted, quoted + "/results"]
