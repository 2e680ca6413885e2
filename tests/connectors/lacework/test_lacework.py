"""Lacework alerts: the fact sheet's alert (golden), a total normalizer, and against the simulator the access
token exchange (X-LW-UAKS + JSON), 7-day search windows, GET paging.urls.nextPage after the POST search, 429 and
the startTime cursor."""
from __future__ import annotations

import json

import pytest
import responses

from connectors.lacework import CONNECTOR as Lacework
from connectors.machinery.auth.session import SessionAuth
from nexus_sync.errors import AuthError, ForeignOriginError, RateLimited
from nexus_sync.models import SecurityEvent
from nexus_sync.simulator import SimConfig, Simulator
from tests.connectors.util import Sleeps, drain, make

GOLDEN = {"alertId": 871234, "alertName": "Unauthorized API Call", "alertType": "CloudActivityLogIngestion",
          "severity": "High", "status": "Open", "startTime": "2024-06-01T10:00:00.000Z",
          "endTime": "2024-06-01T11:00:00.000Z", "lastUserUpdateTime": "2024-06-01T11:05:00.000Z",
          "alertInfo": {"subject": "...", "description": "..."},
          "derivedFields": {"category": "Policy", "sub_category": "Cloud Activity", "source": "AWS"},
          "policyId": "LW_CUSTOM_1"}
START = "2024-04-30T00:00:00Z"


@pytest.fixture(scope="module")
def sim():
    s = Simulator(SimConfig(seed=3, sizes={"lacework": 25})).start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def fresh(sim):
    sim.reset("lacework")
    SessionAuth._sessions.clear()
    yield


def connector(sim, tmp_path, creds=None, sleeps=None, **config):
    from connectors.lacework.simulator import LaceworkSim

    return make(Lacework, sim.base_url("lacework"), creds or dict(LaceworkSim.default_credentials), tmp_path,
                sleep=sleeps, start_time=config.pop("start_time", START), **config)


def test_the_fact_sheets_alert_normalizes_to_the_expected_fields():
    assert Lacework.normalize(GOLDEN) == {"uid": "871234", "title": "Unauthorized API Call", "severity": "high",
                                          "time": "2024-06-01T10:00:00Z", "host": None, "user": None,
                                          "status": "Open"}
    assert SecurityEvent.model_validate(Lacework.normalize(GOLDEN)).severity_label == "high"


def test_the_normalizer_is_total():
    assert Lacework.normalize({**GOLDEN, "severity": "critical"})["severity"] == "critical"  # the CLI's case
    assert Lacework.normalize({**GOLDEN, "severity": 2})["severity"] == "high"  # 1 critical … 5 info
    assert Lacework.normalize({**GOLDEN, "severity": "Severe"})["severity"] == "medium"
    assert Lacework.normalize({**GOLDEN, "status": ["Open", "x"]})["status"] == "Open"
    bare = Lacework.normalize({"alertId": 5})
    assert bare["title"] == "Lacework alert 5" and bare["severity"] == "medium" and bare["time"] is None
    with pytest.raises(KeyError):
        Lacework.normalize({"alertName": "no id"})


def test_the_token_exchange_sends_the_secret_in_x_lw_uaks_and_the_key_id_in_json(tmp_path):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, "https://acme.lacework.net/api/v2/access/tokens", status=201,
                 json={"token": "_tok123456", "expiresAt": "2024-06-01T12:00:00.000Z"})
        mock.add(responses.POST, "https://acme.lacework.net/api/v2/Alerts/search",
                 json={"paging": {"rows": 0, "totalRows": 0, "urls": {}}, "data": []})
        conn = make(Lacework, "https://acme.lacework.net", {"key_id": "KEYID", "secret_key": "_secret"}, tmp_path,
                    start_time="2024-06-01T00:00:00Z", window_days=7)
        conn.fetch_page(None, None)
        login, search = mock.calls[0].request, mock.calls[1].request
        assert login.headers["X-LW-UAKS"] == "_secret" and "Authorization" not in login.headers
        assert json.loads(login.body) == {"keyId": "KEYID", "expiryTime": 3600}
        assert search.headers["Authorization"] == "Bearer _tok123456"


@pytest.mark.parametrize("size", [0, 1, 25])
def test_windows_and_next_pages_cover_every_alert_once(sim, tmp_path, size):
    vendor = sim.vendor("lacework")
    vendor.order[size:] = []
    sim.set_faults("lacework", page_rows=2)  # the vendor's page size: several nextPage GETs per window
    conn = connector(sim, tmp_path)
    records, pages = drain(conn)
    assert sorted(r["alertId"] for r in records) == sorted(vendor.order)
    assert len(records) == len({r["alertId"] for r in records}) == size
    stats = sim.vendor("lacework").get_stats()["by_path"]
    searches = stats.get("/api/v2/Alerts/search", 0)
    assert searches == pages - sum(n for p, n in stats.items() if p.startswith("/api/v2/Alerts/") and
                                   p != "/api/v2/Alerts/search")  # every further page was a GET of nextPage
    if size == 25:
        assert searches < pages


def test_a_window_longer_than_the_vendors_bound_is_refused(sim, tmp_path):
    from nexus_sync.errors import ConfigError

    with pytest.raises(ConfigError, match="window_days"):
        drain(connector(sim, tmp_path, window_days=8))


def test_a_wrong_secret_is_an_auth_error(sim, tmp_path):
    with pytest.raises(AuthError, match="session login"):
        drain(connector(sim, tmp_path, creds={"key_id": "SIMLW_0123456789ABCDEF0123456789ABCDEF01234567",
                                               "secret_key": "wrong"}))


def test_an_expired_next_page_is_not_a_silent_end(sim, tmp_path):
    sim.set_faults("lacework", page_rows=2, next_page_ttl=0)
    conn = connector(sim, tmp_path)
    page = conn.fetch_page(None, None)
    while page.next is not None and "url" not in page.next:
        page = conn.fetch_page(page.next, None)
    from nexus_sync.errors import ConfigError

    with pytest.raises(ConfigError):  # 404: the sync fails loudly, never ends short
        conn.fetch_page(page.next, None)


def test_a_next_page_on_another_origin_is_refused(sim, tmp_path):
    conn = connector(sim, tmp_path)
    first = conn.fetch_page(None, None)
    with pytest.raises(ForeignOriginError):
        conn.fetch_page({**(first.next or {}), "url": "https://evil.example/api/v2/Alerts/AbCdEfGhIjKlMnOpQrStUv"},
                        None)


def test_429_is_waited_out(sim, tmp_path):
    sim.set_faults("lacework", rate_limit_every=3)
    sleeps = Sleeps()
    records, _ = drain(connector(sim, tmp_path, sleeps=sleeps))
    assert len(records) == 25 and sleeps
    sim.set_faults("lacework", rate_limit_every=1)
    with pytest.raises(RateLimited):
        drain(connector(sim, tmp_path, sleeps=Sleeps()))


def test_incremental_starts_at_the_cursor(sim, tmp_path):
    conn = connector(sim, tmp_path, incremental=True)
    truth = sim.truth("lacework")
    since = sorted(conn.cursor_value(r) for r in truth.values())[20]
    records, pages = drain(conn, since=since)
    assert {r["alertId"] for r in records} == {r["alertId"] for r in truth.values() if conn.cursor_value(r) >= since}
    from connectors.lacework.hooks import first_window

    assert first_window(conn, since)["start"] == since.replace("Z", "").ljust(23, "0")[:23] + "Z"  # not start_time
