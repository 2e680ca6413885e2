"""Defender for Cloud alerts: the golden record of vendor-apis-2.md §26, a total normalizer, ARM's api-version,
nextLink (same origin only), throttle and auth answers; no cursor (the list has no server-side filter)."""
from __future__ import annotations

from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from connectors.defendercloud_alerts import CONNECTOR as Alerts
from connectors.machinery import OAuth2ClientCredentials
from nexus_sync.errors import AuthError, ForeignOriginError
from nexus_sync.models import SecurityEvent
from nexus_sync.simulator import SimConfig, Simulator
from nexus_sync.simulator.arm import REMAINING, SUBSCRIPTION
from tests.connectors import arm
from tests.connectors.util import drain

V = "defendercloud_alerts"
GOLDEN: dict[str, Any] = {"id": "/subscriptions/20ff7fc3-e762-44dd-bd96-b71116dcdc23/resourceGroups/rg1/providers/Microsoft.Security/"
                "locations/westeurope/alerts/2518298467986649999_4d25bfef-1111-2222-3333-444455556666",
          "name": "2518298467986649999_4d25bfef-1111-2222-3333-444455556666", "type": "Microsoft.Security/Locations/alerts",
          "properties": {"alertType": "VM_SuspiciousScreenSaver",
                         "alertDisplayName": "Suspicious Screensaver process executed", "severity": "Medium",
                         "status": "Active", "intent": "Execution", "compromisedEntity": "vm2",
                         "startTimeUtc": "2024-06-01T13:51:45.0045913Z", "timeGeneratedUtc": "2024-06-01T13:51:48.3810457Z",
                         "productName": "Azure Security Center", "isIncident": False,
                         "resourceIdentifiers": [{"type": "AzureResource",
                                                  "azureResourceId": "/subscriptions/x/virtualMachines/vm2"}],
                         "techniques": ["T1059"]}}


@pytest.fixture(autouse=True)
def _fresh_tokens():
    OAuth2ClientCredentials._tokens.clear()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    s = Simulator(SimConfig(seed=3, sizes={V: 25})).start()
    yield s
    s.stop()


def conn(sim: Simulator, tmp_path: Any, creds: dict[str, str] | None = None, **kw: Any) -> Any:
    return arm.connector(Alerts, sim, tmp_path, creds, **kw)


def test_golden_record_normalizes_to_the_expected_fields():
    data = SecurityEvent.model_validate(Alerts.normalize(GOLDEN)).__dict__
    assert {k: data[k] for k in ("uid", "title", "severity", "time", "host", "user", "status")} == {
        "uid": "2518298467986649999_4d25bfef-1111-2222-3333-444455556666",
        "title": "Suspicious Screensaver process executed", "severity": "medium",
        "time": "2024-06-01T13:51:48.381045Z", "host": "vm2", "user": None, "status": "Active"}


def test_normalize_is_total():
    props = {**GOLDEN["properties"], "severity": "Catastrophic", "status": "Snoozed", "compromisedEntity": ["vm9", "x"],
             "entities": [{"type": "host", "hostName": "vm9"}, {"type": "account", "name": "bob",
                                                                 "upnSuffix": "contoso.com"}]}
    del props["alertDisplayName"], props["timeGeneratedUtc"]
    data = SecurityEvent.model_validate(Alerts.normalize({**GOLDEN, "properties": props}))
    assert (data.severity, data.status, data.host, data.user, data.title) == (
        "medium", "Unknown", "vm9", "bob@contoso.com", "VM_SuspiciousScreenSaver")
    assert data.time == "2024-06-01T13:51:45.004591Z"  # startTimeUtc where timeGeneratedUtc is missing
    with pytest.raises(KeyError):
        Alerts.normalize({k: v for k, v in GOLDEN.items() if k != "name"})


def test_pages_follow_next_link_with_the_pinned_api_version(sim, tmp_path):
    records, pages = drain(conn(sim, tmp_path))
    assert {r["name"] for r in records} == set(sim.truth(V)) and pages == 3
    assert Alerts.cursor_field is None  # no server-side filter: every sync lists in full


def test_incremental_lists_in_full_with_no_filter(sim, tmp_path):
    records, _ = drain(conn(sim, tmp_path, incremental=True), since="2024-06-01T00:00:00Z")
    assert len(records) == 25


def test_empty_and_one(tmp_path):
    arm.check_empty_and_one(Alerts, tmp_path)


def test_wrong_secret_is_an_auth_error(sim, tmp_path):
    with pytest.raises(AuthError):
        drain(conn(sim, tmp_path, creds={**arm.CREDS, "client_secret": "nope"}))


def test_arm_answers_api_version_throttle_and_token_errors_as_arm_does(sim, tmp_path):
    c = conn(sim, tmp_path)
    url = c.url("/subscriptions/{subscription}/providers/Microsoft.Security/alerts")
    auth = {"Authorization": f"Bearer {c._auth.token()}"}
    ok = requests.get(url, params={"api-version": "2022-01-01"}, headers=auth, timeout=5)
    assert ok.status_code == 200 and int(ok.headers[REMAINING]) >= 0
    missing = requests.get(url, headers=auth, timeout=5)
    assert (missing.status_code, missing.json()["error"]["code"]) == (400, "MissingApiVersionParameter")
    unknown = requests.get(url, params={"api-version": "2015-06-01-preview"}, headers=auth, timeout=5)
    assert unknown.json()["error"]["code"] == "NoRegisteredProviderFound" and "2022-01-01" in unknown.text
    bad = requests.get(url, params={"api-version": "2022-01-01"}, headers={"Authorization": "Bearer x"}, timeout=5)
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "InvalidAuthenticationToken"
    sim.set_faults(V, rate_limit_every=1, retry_after_seconds=3)
    limited = requests.get(url, params={"api-version": "2022-01-01"}, headers=auth, timeout=5)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert limited.json()["error"]["code"] == "SubscriptionRequestsThrottled"


def test_the_token_bucket_throttles_a_burst(tmp_path):
    s = Simulator(SimConfig(seed=3, sizes={V: 5}, rate_limit={V: 60})).start()  # bucket 10, refill 1/s
    try:
        c = conn(s, tmp_path)
        url = c.url("/subscriptions/{subscription}/providers/Microsoft.Security/alerts")
        auth = {"Authorization": f"Bearer {c._auth.token()}"}
        codes = [requests.get(url, params={"api-version": "2022-01-01"}, headers=auth, timeout=5).status_code
                 for _ in range(12)]
        assert codes[:10] == [200] * 10 and 429 in codes[10:]
    finally:
        s.stop()


def test_throttle_is_waited_out(sim, tmp_path):
    arm.check_throttle_waited_out(Alerts, sim, tmp_path, 25)


@responses.activate
def test_a_next_link_to_another_host_is_refused(tmp_path):
    c = arm.on_arm(Alerts, tmp_path)
    responses.add(responses.GET, f"{arm.ARM}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Security/alerts",
                  json={"value": [GOLDEN], "nextLink": "https://management.azure.com.evil.example/alerts?x=1"})
    with pytest.raises(ForeignOriginError):
        drain(c)
    assert parse_qs(urlsplit(str(responses.calls[1].request.url)).query)["api-version"] == ["2022-01-01"]
