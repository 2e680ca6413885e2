"""Azure Activity Log: the required eventTimestamp window, nextLink paging, the late-arrival overlap, ARM's
api-version and throttle answers, and the golden record of vendor-apis-2.md §30."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.azureactivity import CONNECTOR as Activity
from connectors.azureactivity import hooks
from connectors.machinery import OAuth2ClientCredentials
from nexus_sync.errors import AuthError, ConfigError, ForeignOriginError
from nexus_sync.models import SecurityEvent
from nexus_sync.simulator import SimConfig, Simulator
from nexus_sync.simulator.arm import SUBSCRIPTION
from tests.connectors import arm
from tests.connectors.util import drain

V = "azureactivity"
GOLDEN: dict[str, Any] = {"eventDataId": "44ade6b4-3813-45e6-ae27-7420a95fa2f8", "correlationId": "1e121103-0ba6-4300-ac9d-952bb5d0c80f",
          "caller": "admin@contoso.com", "eventName": {"value": "EndRequest", "localizedValue": "End request"},
          "level": "Informational", "operationName": {"value": "microsoft.support/supporttickets/write"},
          "status": {"value": "Succeeded"}, "subStatus": {"value": "Created"},
          "httpRequest": {"clientIpAddress": "192.0.2.15", "method": "PUT"}, "resourceGroupName": "MSSupportGroup",
          "eventTimestamp": "2024-06-01T22:14:26.9792776Z", "submissionTimestamp": "2024-06-01T22:14:39.9936304Z",
          "subscriptionId": "089bd33f-d4ec-47fe-8ba5-0753aa5c5b33"}


@pytest.fixture(autouse=True)
def _fresh_tokens():
    OAuth2ClientCredentials._tokens.clear()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    s = Simulator(SimConfig(seed=5, sizes={V: 25})).start()
    yield s
    s.stop()


def conn(sim: Simulator, tmp_path: Any, creds: dict[str, str] | None = None, **kw: Any) -> Any:
    return arm.connector(Activity, sim, tmp_path, creds, **kw)


@pytest.fixture
def seen(sim: Simulator) -> list[str]:
    """Every data request's URL, as the simulator received it."""
    vendor: Any = sim.vendor(V)
    urls: list[str] = []
    original = vendor.list_events

    def spy(req, sub):
        urls.append(req.url)
        return original(req, sub)

    vendor.list_events = spy  # routes are looked up on the instance
    return urls


def test_golden_record_normalizes_to_the_expected_fields():
    data = SecurityEvent.model_validate(Activity.normalize(GOLDEN)).__dict__
    assert {k: data[k] for k in ("uid", "title", "severity", "time", "user", "status", "host")} == {
        "uid": "44ade6b4-3813-45e6-ae27-7420a95fa2f8", "title": "microsoft.support/supporttickets/write",
        "severity": "info", "time": "2024-06-01T22:14:26.979277Z", "user": "admin@contoso.com",
        "status": "Succeeded", "host": None}
    assert Activity.cursor_value(Activity.__new__(Activity), GOLDEN) == "2024-06-01T22:14:26.979277Z"


def test_normalize_is_total():
    odd = {**GOLDEN, "level": "Chatty", "operationName": ["a/b/write"], "status": "Failed", "caller": None}
    del odd["eventName"]
    data = SecurityEvent.model_validate(Activity.normalize(odd))
    assert (data.severity, data.title, data.status, data.user) == ("medium", "a/b/write", "Failed", None)
    bare = {"eventDataId": "x", "eventTimestamp": "2024-06-01T00:00:00Z"}
    assert SecurityEvent.model_validate(Activity.normalize(bare)).title == "activity log event"
    with pytest.raises(KeyError):
        Activity.normalize({k: v for k, v in GOLDEN.items() if k != "eventDataId"})


def test_window_first_sync_incremental_and_the_retention_cap():
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert hooks.window(None, 7, 30, now) == ("2026-02-22T12:00:00Z", "2026-03-01T12:00:00Z")
    assert hooks.window("2026-03-01T10:00:00.5Z", 7, 30, now) == ("2026-03-01T09:30:00Z", "2026-03-01T12:00:00Z")
    capped = (now - timedelta(days=90) + hooks.SKEW).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert hooks.window(None, 365, 30, now)[0] == capped
    assert hooks.window("2020-01-01T00:00:00Z", 7, 30, now)[0] == capped


def test_every_request_carries_the_window_and_pages_follow_next_link(sim, seen, tmp_path):
    records, pages = drain(conn(sim, tmp_path))
    assert len(records) == 25 and pages == 3 and len(seen) == 3
    for url in seen:
        q = parse_qs(urlsplit(url).query)
        assert q["api-version"] == ["2015-04-01"]
        assert q["$filter"][0].startswith("eventTimestamp ge '") and " and eventTimestamp le '" in q["$filter"][0]
        assert "claims" not in q["$select"][0].split(",")  # the caller's token claims (PII) are never asked for
    assert "$skiptoken" in seen[1] and all("claims" not in r for r in records)


def test_empty_and_one(tmp_path):
    arm.check_empty_and_one(Activity, tmp_path)


def test_incremental_window_starts_an_overlap_before_the_cursor(sim, seen, tmp_path):
    cursor = max(r["eventTimestamp"] for r in sim.truth(V).values())
    records, _ = drain(conn(sim, tmp_path, overlap_minutes=5), since=cursor)
    start = parse_qs(urlsplit(seen[0]).query)["$filter"][0].split("'")[1]
    expected = datetime.fromisoformat(cursor[:19]).replace(tzinfo=timezone.utc) - timedelta(minutes=5)
    assert start == expected.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert {r["eventDataId"] for r in records} == {rid for rid, r in sim.truth(V).items()
                                                   if r["eventTimestamp"][:19] >= start[:19]}


def test_a_late_event_before_the_cursor_is_caught_by_the_overlap(sim, tmp_path):
    first, _ = drain(conn(sim, tmp_path))
    late = sim.vendor(V).deliver_late(2, age_seconds=600)  # happened 10 min ago, queryable only now
    cursor = Activity.canonical_cursor(Activity.__new__(Activity), time.time() - 60)  # a cursor after them
    caught, _ = drain(conn(sim, tmp_path, overlap_minutes=30), since=cursor)
    assert set(late) <= {r["eventDataId"] for r in caught}
    missed, _ = drain(conn(sim, tmp_path, overlap_minutes=0), since=cursor)
    assert not set(late) & {r["eventDataId"] for r in missed}  # without an overlap they would be lost
    assert not set(late) & {r["eventDataId"] for r in first}


def test_the_simulator_refuses_a_request_without_a_window_or_api_version(sim, tmp_path):
    import requests

    c = conn(sim, tmp_path)
    url = c.url(hooks.REQUEST.path)
    headers = {"Authorization": f"Bearer {c._auth.token()}"}
    no_filter = requests.get(url, params={"api-version": "2015-04-01"}, headers=headers, timeout=5)
    assert no_filter.status_code == 400 and no_filter.json()["error"]["code"] == "BadRequest"
    no_version = requests.get(url, params={"$filter": "x"}, headers=headers, timeout=5)
    assert no_version.json()["error"]["code"] == "MissingApiVersionParameter"
    old = requests.get(url, headers=headers, timeout=5, params={
        "api-version": "2015-04-01", "$filter": "eventTimestamp ge '2001-01-01T00:00:00Z' and eventTimestamp le "
                                                "'2001-01-02T00:00:00Z'"})
    assert old.status_code == 400 and "90 days" in old.json()["error"]["message"]


def test_wrong_secret_is_an_auth_error_and_unknown_subscription_a_config_error(sim, tmp_path):
    with pytest.raises(AuthError):
        drain(conn(sim, tmp_path, creds={**arm.CREDS, "client_secret": "nope"}))
    OAuth2ClientCredentials._tokens.clear()
    with pytest.raises(ConfigError, match="SubscriptionNotFound"):
        drain(conn(sim, tmp_path, subscription="0" * 8))


def test_arm_throttle_is_waited_out_by_retry_after(sim, tmp_path):
    arm.check_throttle_waited_out(Activity, sim, tmp_path, 25)


LIST = f"{arm.ARM}/subscriptions/{SUBSCRIPTION}/providers/microsoft.insights/eventtypes/management/values"


@responses.activate
def test_a_next_link_to_another_host_is_refused(tmp_path):
    c = arm.on_arm(Activity, tmp_path)
    responses.add(responses.GET, LIST, json={"value": [GOLDEN], "nextLink": "https://evil.example/values?x=1"})
    with pytest.raises(ForeignOriginError):
        drain(c)


@responses.activate
def test_a_next_link_without_the_filter_gets_the_window_back(tmp_path):
    c = arm.on_arm(Activity, tmp_path)
    responses.add(responses.GET, LIST, json={"value": [GOLDEN], "nextLink": f"{LIST}?api-version=2015-04-01&"
                                                                            "$skiptoken=abc"})
    responses.add(responses.GET, LIST, json={"value": [dict(GOLDEN, eventDataId="b")]})
    records, pages = drain(c)
    assert pages == 2 and len(records) == 2
    first, second = (parse_qs(urlsplit(str(call.request.url)).query) for call in responses.calls[1:3])
    assert second["$filter"] == first["$filter"] and second["$skiptoken"] == ["abc"]
