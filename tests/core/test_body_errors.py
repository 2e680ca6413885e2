"""Errors with HTTP 200 (issue 15 item 3): a declared path and values in a 2xx body count as a status and go
through the error table like it — refresh once then auth, wait, retry, fail."""
from __future__ import annotations

import pytest
import responses

from connectors.machinery import BrokenDeclaration, Declaration, ErrorWhen, HeaderAuth, OffsetPaging, Request, declare
from nexus_sync.errors import AuthError, RateLimited, TransientError, VendorDataError
from nexus_sync.http import BodyError, HttpClient
from tasks.base import decide

URL = "https://vendor.test/api/items"
# ArcSight Logger: `"status": "error"` on a 200; the vendor's text at `message`
LOGGER = ErrorWhen(path="status", values=("error", "expired", "busy"), status=502,
                   statuses={"expired": 401, "busy": 429}, message="message").runtime(None)
# Exabeam: any `errors` object on a 200 is a failure
EXABEAM = ErrorWhen(path="errors", status=400, message="errors.message").runtime(None)


class FakeAuth:
    def __init__(self):
        self.refreshed = 0

    def apply(self, headers):
        headers["Authorization"] = f"Bearer t{self.refreshed}"

    def refresh(self):
        self.refreshed += 1


def client(body_error: BodyError, sleeps: list[float] | None = None) -> HttpClient:
    c = HttpClient(timeout=2, sleep=(sleeps.append if sleeps is not None else lambda s: None))
    c.body_error = body_error
    return c


@responses.activate
def test_a_success_is_a_success():
    responses.add(responses.GET, URL, json={"status": "complete", "hit": 3})
    assert client(LOGGER).request("GET", URL).json()["hit"] == 3


@responses.activate
def test_a_value_mapped_to_5xx_is_transient_and_quotes_the_vendor_text_only():
    responses.add(responses.GET, URL, json={"status": "error", "message": "search 17 failed", "secret": "s3cr3t"})
    with pytest.raises(TransientError) as err:
        client(LOGGER).request("GET", URL)
    text = str(err.value)
    assert "200 OK" in text and "[error]" in text and "search 17 failed" in text and "answered as 502" in text
    assert "s3cr3t" not in text
    assert decide(err.value, retries=0)[0] is not None  # retried


@responses.activate
def test_an_auth_value_refreshes_once_then_fails_as_auth():
    responses.add(responses.GET, URL, json={"status": "expired"})
    auth = FakeAuth()
    with pytest.raises(AuthError):
        client(LOGGER).request("GET", URL, auth=auth)
    assert auth.refreshed == 1 and len(responses.calls) == 2


@responses.activate
def test_an_auth_value_cured_by_the_refresh_is_invisible():
    responses.add(responses.GET, URL, json={"status": "expired"})
    responses.add(responses.GET, URL, json={"status": "complete"})
    assert client(LOGGER).request("GET", URL, auth=FakeAuth()).json() == {"status": "complete"}


@responses.activate
def test_a_busy_value_waits_like_a_429_and_never_drops_the_page():
    responses.add(responses.GET, URL, json={"status": "busy"})
    responses.add(responses.GET, URL, json={"status": "complete"})
    sleeps: list[float] = []
    assert client(LOGGER, sleeps).request("GET", URL).json() == {"status": "complete"}
    assert sleeps == [1.0]


@responses.activate
def test_a_busy_value_past_the_inline_tries_is_a_rate_limit():
    for _ in range(6):
        responses.add(responses.GET, URL, json={"status": "busy"})
    with pytest.raises(RateLimited):
        client(LOGGER).request("GET", URL)


@responses.activate
def test_a_declared_rate_limit_status_applies_to_body_errors_too():
    body_error = ErrorWhen(path="status", values=("slow",), status=409).runtime(None)
    responses.add(responses.GET, URL, json={"status": "slow"})
    responses.add(responses.GET, URL, json={"status": "ok"})
    sleeps: list[float] = []
    client(body_error, sleeps).request("GET", URL, rate_limit_statuses=(429, 409))
    assert sleeps == [1.0]


@responses.activate
def test_any_value_at_a_presence_path_fails_permanently():
    responses.add(responses.POST, URL, json={"errors": {"message": "Invalid filter syntax"}})
    with pytest.raises(VendorDataError) as err:
        client(EXABEAM).request("POST", URL)
    assert not err.value.retryable and "Invalid filter syntax" in str(err.value)


@responses.activate
@pytest.mark.parametrize("body", [{"errors": None, "rows": []}, {"errors": [], "rows": []}, {"rows": []},
                                  [{"errors": "a record's own field"}], {"rows": [{"errors": {"message": "x"}}]}])
def test_an_empty_or_absent_or_nested_value_is_data(body):
    responses.add(responses.POST, URL, json=body)
    assert client(EXABEAM).request("POST", URL).json() == body


@responses.activate
def test_values_compare_as_json_text():
    body_error = ErrorWhen(path="success", values=("false",), status=400).runtime(None)
    responses.add(responses.GET, URL, json={"success": True})
    responses.add(responses.GET, URL, json={"success": False})
    c = client(body_error)
    assert c.request("GET", URL).json() == {"success": True}
    with pytest.raises(VendorDataError):
        c.request("GET", URL)


@responses.activate
def test_an_error_status_is_still_the_status_table_s():
    responses.add(responses.GET, URL, status=503, json={"status": "busy"})
    with pytest.raises(TransientError):
        client(LOGGER).request("GET", URL)


def _decl(**error_when) -> Declaration:
    return Declaration(type="bodyerr", title="t", category="siem", kind="event",
                       auth=HeaderAuth(template="Bearer {token}"), request=Request(path="/items"),
                       paging=OffsetPaging(), id_field="id", error_when=ErrorWhen(**error_when))


@responses.activate
def test_a_declared_connector_answers_a_body_error_through_the_table(tmp_path):
    from tests.connectors.util import drain, make

    cls = declare(_decl(path="status", values=("error",), status=400, message="message"), lambda raw: raw)
    conn = make(cls, "https://vendor.test/api", {"token": "t"}, tmp_path)
    assert conn.http.body_error == BodyError("status", {"error": 400}, None, "message", None)
    responses.add(responses.GET, URL, json={"status": "error", "message": "bad query"})
    with pytest.raises(VendorDataError, match="bad query"):
        drain(conn)


def test_statuses_must_name_declared_values():
    with pytest.raises(BrokenDeclaration, match="error_when"):
        declare(_decl(path="status", values=("error",), statuses={"busy": 429}), lambda raw: raw)


def test_a_status_outside_the_error_range_is_refused():
    with pytest.raises(ValueError):
        ErrorWhen(path="status", status=200)
