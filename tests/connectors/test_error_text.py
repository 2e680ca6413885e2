"""Issue 10 finding 2, the connector half: an error quotes the vendor's declared error code and message (the
paths each Declaration names), shortened to one line, and never the raw answer, which may echo credentials."""
from __future__ import annotations

import pytest
import responses

import connectors
from nexus_sync.errors import SyncError, VendorDataError
from nexus_sync.http import dig
from nexus_sync.simulator import SimConfig, Simulator, discover
from tests.connectors.util import drain, make

MARKER = "RAW-BODY-MARKER"


def _raised(conn) -> SyncError:
    with pytest.raises(SyncError) as err:
        drain(conn)
    return err.value


def test_dotted_paths_index_lists():
    body = {"errors": [{"code": 403, "message": "denied"}], "0": {"k": "dict key"}}
    assert dig(body, "errors.0.message", required=True) == "denied" and dig(body, "0.k", required=True) == "dict key"
    assert dig(body, "errors.1.message") is None
    with pytest.raises(KeyError):
        dig(body, "errors.x", required=True)


@responses.activate
def test_okta_500_echoing_the_token_gives_code_and_summary_only(tmp_path):
    base = "https://acme.okta.test"
    responses.add(responses.GET, f"{base}/api/v1/users", status=500, json={
        "errorCauses": [{"errorSummary": f"{MARKER} Authorization: SSWS okta-canary-token"}],
        "errorCode": "E0000009", "errorSummary": "Internal Server Error", "errorId": MARKER})
    error = str(_raised(make(connectors.get("okta"), base, {"token": "okta-canary-token"}, tmp_path)))
    assert "500" in error and "[E0000009]" in error and "Internal Server Error" in error
    assert MARKER not in error and "okta-canary-token" not in error


@responses.activate
def test_crowdstrike_error_list_gives_the_first_code_and_message(tmp_path):
    base = "https://api.crowdstrike.test"
    responses.add(responses.POST, f"{base}/oauth2/token", json={"access_token": "cs-access-token-123", "expires_in": 1799})
    responses.add(responses.GET, f"{base}/devices/queries/devices-scroll/v1", status=500, json={
        "meta": {"trace_id": MARKER, "echo": "Bearer cs-access-token-123"},
        "errors": [{"code": 500, "message": "internal error\nplease retry"}], "resources": []})
    from connectors.machinery import OAuth2ClientCredentials

    OAuth2ClientCredentials._tokens.clear()
    error = str(_raised(make(connectors.get("crowdstrike"), base, {"client_id": "c", "client_secret": "s"},
                             tmp_path)))
    assert "[500]: internal error please retry" in error
    assert MARKER not in error and "cs-access-token-123" not in error


# Greenbone's types speak GMP over TLS, not HTTP: no status line, an error is a status attribute (their test below)
GMP = sorted(t for t in connectors.registry() if connectors.get(t).auth == "gmp")
VENDORS = sorted(t for t in connectors.registry() if t in discover() and t != "qualys" and t not in GMP)


@pytest.fixture(scope="module")
def small_sim():
    sim = Simulator(SimConfig(seed=7, sizes={v: 3 for v in discover()})).start()
    yield sim
    sim.stop()


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_vendor_error_quotes_its_declared_envelope_not_the_body(vendor, small_sim, tmp_path):
    """The simulator answers 503 in each vendor's own error envelope (written from the vendor facts): the
    declared paths must find its message. Qualys answers XML: its SIMPLE_RETURN is read by its hook."""
    from tests.connectors.test_contract import connector_for

    small_sim.set_faults(vendor, error_5xx_every=1)
    try:
        error = str(_raised(connector_for(vendor, small_sim, tmp_path)))
    finally:
        small_sim.set_faults(vendor, error_5xx_every=0)
    vendor_part = error.split("503 Service Unavailable", 1)[1]
    assert vendor_part.startswith((" [", ": ")) and ": " in vendor_part, f"no declared message in {error!r}"
    assert "{" not in error and '"' not in error, f"raw body in {error!r}"


@responses.activate
def test_graphql_errors_keep_the_first_message_on_one_short_line(tmp_path):
    from connectors.machinery import OAuth2ClientCredentials

    OAuth2ClientCredentials._tokens.clear()
    api = "https://api.us17.app.wiz.test"
    responses.add(responses.POST, "https://auth.app.wiz.io/oauth/token", json={"access_token": "t", "expires_in": 60})
    responses.add(responses.POST, f"{api}/graphql", json={"data": None, "errors": [
        {"message": "invalid cursor\n" + "x" * 400, "extensions": {"code": "BAD_USER_INPUT"}},
        {"message": MARKER}]})
    error = _raised(make(connectors.get("wiz"), api, {"client_id": "c", "client_secret": "s"}, tmp_path))
    assert isinstance(error, VendorDataError) and "invalid cursor x" in str(error)
    assert MARKER not in str(error) and "\n" not in str(error) and len(str(error)) < 220


@responses.activate
def test_qualys_simple_return_code_and_text_are_shortened(tmp_path):
    base = "https://qualysapi.qualys.test"
    text = "Bad request:\n" + "detail " * 200 + MARKER
    responses.add(responses.POST, f"{base}/api/2.0/fo/asset/host/vm/detection/", content_type="text/xml",
                  body=f"<SIMPLE_RETURN><RESPONSE><CODE>1903</CODE><TEXT>{text}</TEXT></RESPONSE></SIMPLE_RETURN>")
    error = str(_raised(make(connectors.get("qualys"), base, {"username": "u", "password": "p"}, tmp_path)))
    assert error.startswith("qualys error 1903: Bad request: detail")
    assert MARKER not in error and "\n" not in error and len(error) < 220


@responses.activate
def test_a_failed_splunk_job_says_its_first_message_only(tmp_path):
    jobs = "https://splunk.test:8089/services/search/jobs"
    responses.add(responses.POST, jobs, json={"sid": "1.1"})
    responses.add(responses.GET, f"{jobs}/1.1", json={"entry": [{"content": {"dispatchState": "FAILED", "messages": [
        {"type": "FATAL", "text": "Error in 'search' command:\nunknown field"}, {"type": "INFO", "text": MARKER}]}}]})
    error = str(_raised(make(connectors.get("splunk"), "https://splunk.test:8089", {"token": "t"}, tmp_path)))
    assert error == "connector 'splunk-test': search job 1.1 ended FAILED: Error in 'search' command: unknown field"


@pytest.mark.parametrize("vendor", GMP)
def test_every_gmp_vendor_error_quotes_the_status_attributes_not_the_answer(vendor, small_sim, tmp_path):
    """gvmd answers a busy listing with `<get_..._response status="503" status_text="Service temporarily
    down"/>`: the error names the command, the GMP status and its text, on one line, and not the XML."""
    from tests.connectors.test_contract import connector_for

    small_sim.set_faults(vendor, error_5xx_every=1)
    try:
        error = str(_raised(connector_for(vendor, small_sim, tmp_path)))
    finally:
        small_sim.set_faults(vendor, error_5xx_every=0)
    command = connectors.get(vendor).command
    assert f"{command}: GMP status 503 'Service temporarily down'" in error, error
    assert "<" not in error and "_response" not in error and "\n" not in error
