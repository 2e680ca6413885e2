"""Each row of the error table: what the HTTP client and the base task do with it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests
import responses

from nexus_sync.errors import (
    HTTP_RULES,
    Action,
    AuthError,
    ConfigError,
    RateLimited,
    StagedBatchMissing,
    TransientError,
    VendorDataError,
    rule_for_exception,
    rule_for_status,
)
from nexus_sync.http import BodyThrottle, HttpClient, wait_from_headers
from tasks.base import RATE_LIMIT_MAX_RETRIES, decide

URL = "https://vendor.test/api/items"


class FakeAuth:
    def __init__(self):
        self.refreshed = 0

    def apply(self, headers):
        headers["Authorization"] = f"Bearer t{self.refreshed}"

    def refresh(self):
        self.refreshed += 1


def client(sleeps=None):
    return HttpClient(timeout=2, sleep=(sleeps.append if sleeps is not None else lambda s: None))


@responses.activate
@pytest.mark.parametrize("status,exc", [(500, TransientError), (502, TransientError), (503, TransientError),
                                        (408, TransientError), (409, TransientError), (400, VendorDataError),
                                        (422, VendorDataError), (404, ConfigError)])
def test_status_rows_raise_their_failure_class(status, exc):
    responses.add(responses.GET, URL, status=status, body="nope")
    with pytest.raises(exc):
        client().request("GET", URL)


@responses.activate
@pytest.mark.parametrize("status", [401, 403])
def test_auth_rows_refresh_once_then_fail(status):
    responses.add(responses.GET, URL, status=status)
    auth = FakeAuth()
    with pytest.raises(AuthError):
        client().request("GET", URL, auth=auth)
    assert auth.refreshed == 1 and len(responses.calls) == 2
    assert responses.calls[1].request.headers["Authorization"] == "Bearer t1"


@responses.activate
def test_auth_refresh_that_works_is_invisible():
    responses.add(responses.GET, URL, status=401)
    responses.add(responses.GET, URL, json={"ok": True})
    assert client().request("GET", URL, auth=FakeAuth()).json() == {"ok": True}


@responses.activate
def test_connection_errors_are_transient():
    responses.add(responses.GET, URL, body=requests.exceptions.ConnectionError("reset by peer"))
    with pytest.raises(TransientError):
        client().request("GET", URL)


@responses.activate
def test_vendor_extension_turns_409_into_a_rate_limit_wait():
    responses.add(responses.GET, URL, status=409, headers={"X-RateLimit-ToWait-Sec": "2"})
    responses.add(responses.GET, URL, json=[])
    sleeps: list[float] = []
    client(sleeps).request("GET", URL, rate_limit_statuses=(409, 429))
    assert sleeps == [2.0]


NOW = 1_800_000_000.0
DIALECTS = {
    "Retry-After seconds": ({"Retry-After": "7"}, 7.0),
    "Retry-After HTTP date": ({"Retry-After": format_datetime(datetime.fromtimestamp(NOW + 9, timezone.utc),
                                                              usegmt=True)}, 9.0),
    "CrowdStrike epoch": ({"X-Ratelimit-Retryafter": str(int(NOW + 4))}, 4.0),
    "Okta epoch reset": ({"X-Rate-Limit-Reset": str(int(NOW + 30))}, 30.0),
    "Jira ISO reset": ({"X-RateLimit-Reset": (datetime.fromtimestamp(NOW, timezone.utc) + timedelta(seconds=12))
                        .isoformat().replace("+00:00", "Z")}, 12.0),
    "Qualys to-wait": ({"X-RateLimit-ToWait-Sec": "15"}, 15.0),
}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_rate_limit_dialects(dialect):
    headers, expected = DIALECTS[dialect]
    assert wait_from_headers(headers, now=NOW) == pytest.approx(expected, abs=0.01)


@responses.activate
def test_retry_after_zero_waits_a_floor_not_a_hot_loop():
    for _ in range(3):
        responses.add(responses.GET, URL, status=429, headers={"Retry-After": "0"})
    responses.add(responses.GET, URL, json=[])
    sleeps: list[float] = []
    client(sleeps).request("GET", URL)
    assert sleeps == [0.5, 0.5, 0.5]


@responses.activate
def test_long_wait_is_handed_to_the_task_as_a_countdown():
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "90"})
    with pytest.raises(RateLimited) as err:
        client().request("GET", URL)
    assert err.value.wait_seconds == 90
    countdown, max_retries = decide(err.value, retries=0)
    assert countdown == 90 and max_retries == RATE_LIMIT_MAX_RETRIES


@pytest.mark.parametrize("exc,action", [
    (RateLimited("x", 3), Action.WAIT), (TransientError("x"), Action.RETRY), (VendorDataError("x"), Action.RETRY),
    (AuthError("x"), Action.FAIL), (ConfigError("x"), Action.FAIL), (StagedBatchMissing("x"), Action.FAIL),
    (RuntimeError("db hiccup"), Action.RETRY)])
def test_exception_rows(exc, action):
    assert rule_for_exception(exc).action is action


def test_task_retries_transient_errors_with_backoff_then_fails():
    countdowns = [decide(TransientError("x"), r)[0] for r in range(4)]
    assert all(c is not None for c in countdowns[:3]) and countdowns[3] is None
    assert countdowns[0] <= 1.0 and countdowns[2] <= 4.0


def test_config_errors_are_never_retried():
    assert decide(ConfigError("missing secret"), 0)[0] is None


def test_table_covers_the_statuses_the_design_names():
    assert rule_for_status(200) is None
    assert {429, 401, 403, 404, 408} <= set(HTTP_RULES)
    assert rule_for_status(599).action is Action.RETRY and rule_for_status(418).action is Action.FAIL


def test_a_task_past_its_soft_time_limit_is_retried_as_transient_with_a_clear_message():
    from celery.exceptions import SoftTimeLimitExceeded

    from tasks.base import _as_sync_error

    exc = _as_sync_error(SoftTimeLimitExceeded(), "tasks.sync.fetch")
    assert isinstance(exc, TransientError)
    assert "tasks.sync.fetch" in str(exc) and "soft time limit of 900 s" in str(exc)
    assert decide(exc, retries=0)[0] is not None


def test_every_task_has_soft_and_hard_time_limits(stack):  # the app is made once: after the stack pins Redis
    from nexus_sync.celery_app import app

    assert (app.conf.task_soft_time_limit, app.conf.task_time_limit) == (900, 960)


# ---------------------------------------------------------------- a throttle inside a 2xx body (Fidelity #12)
GRAPHQL_THROTTLE = BodyThrottle("errors.0.extensions.code", ("RATE_LIMIT_EXCEEDED",), "errors.0.extensions.retryAfter")


def _throttle_body(**extensions):
    return {"data": None, "errors": [{"message": "Rate limit exceeded",
                                      "extensions": {"code": "RATE_LIMIT_EXCEEDED", **extensions}}]}


def throttled_client(sleeps, throttle=GRAPHQL_THROTTLE):
    c = client(sleeps)
    c.throttle = throttle
    return c


@responses.activate
def test_a_declared_throttle_inside_a_200_waits_the_wait_its_body_names():
    responses.add(responses.POST, URL, json=_throttle_body(retryAfter=3))
    responses.add(responses.POST, URL, json={"data": {"items": []}})
    sleeps: list[float] = []
    assert throttled_client(sleeps).request("POST", URL).json() == {"data": {"items": []}}
    assert sleeps == [3.0] and len(responses.calls) == 2


@responses.activate
def test_a_throttle_wait_in_milliseconds_is_converted():
    responses.add(responses.POST, URL, json=_throttle_body(retryAfter=2500))
    responses.add(responses.POST, URL, json={})
    sleeps: list[float] = []
    throttled_client(sleeps, BodyThrottle(GRAPHQL_THROTTLE.code_path, GRAPHQL_THROTTLE.codes,
                                          GRAPHQL_THROTTLE.wait_path, unit=0.001)).request("POST", URL)
    assert sleeps == [2.5]


@responses.activate
def test_a_throttle_without_a_readable_wait_backs_off_like_a_bare_429():
    responses.add(responses.POST, URL, json=_throttle_body(retryAfter="soon"))
    responses.add(responses.POST, URL, json=_throttle_body())
    responses.add(responses.POST, URL, json={})
    sleeps: list[float] = []
    throttled_client(sleeps).request("POST", URL)
    assert sleeps == [1.0, 2.0] and len(responses.calls) == 3  # 2 ** tries, as a 429 without headers


@responses.activate
def test_the_throttle_code_elsewhere_in_a_success_is_data():
    body = {"data": {"issues": [{"title": "RATE_LIMIT_EXCEEDED seen in the logs"}]}}
    responses.add(responses.POST, URL, json=body)
    sleeps: list[float] = []
    assert throttled_client(sleeps).request("POST", URL).json() == body
    assert sleeps == [] and len(responses.calls) == 1


@responses.activate
def test_a_long_throttle_wait_becomes_the_tasks_countdown():
    responses.add(responses.POST, URL, json=_throttle_body(retryAfter=90))
    with pytest.raises(RateLimited) as err:
        throttled_client([]).request("POST", URL)
    assert err.value.wait_seconds == 90 and "RATE_LIMIT_EXCEEDED" in str(err.value)
    assert "Rate limit exceeded" not in str(err.value)  # the code, never the body's text
    countdown, _ = decide(err.value, retries=0)
    assert countdown == 90


def test_throttle_codes_need_the_error_code_path_they_are_read_at():
    from connectors.machinery import BrokenDeclaration, Declaration, GraphQLPaging, HeaderAuth, Request, declare

    decl = Declaration(type="throttled", title="t", category="siem", kind="event",
                       auth=HeaderAuth(template="Bearer {token}"), request=Request(method="POST", path="/graphql"),
                       paging=GraphQLPaging(query="query { x }", connection="data.x"), id_field="id",
                       throttle_codes=("RATE_LIMIT_EXCEEDED",), throttle_wait="errors.0.extensions.retryAfter")
    with pytest.raises(BrokenDeclaration, match="error_code"):
        declare(decl, lambda raw: raw)
