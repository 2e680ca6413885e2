"""OneLogin users: the v2 token (HTTP Basic, a JSON grant, 10 h lifetime), the `After-Cursor` header as the
next page's cursor, `updated_since`, X-RateLimit-Reset in seconds, int statuses; against the simulator and
with `responses`."""
from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.onelogin import CONNECTOR as OneLogin
from nexus_sync.http import wait_from_headers
from nexus_sync.models import User
from nexus_sync.simulator import Simulator
from tests.connectors.simulated import fresh_tokens, sim_of
from tests.connectors.util import Sleeps, drain, make

CREDS = {"client_id": "sim-onelogin-client", "client_secret": "sim-onelogin-secret"}
BASE = "https://acme.onelogin.com"
USERS = f"{BASE}/api/2/users"
# the fact sheet's user (vendor-apis-2.md §37)
FACT_USER = {"id": 201234567, "username": "jdoe", "email": "jdoe@example.com", "firstname": "Jane", "lastname": "Doe",
             "state": 1, "status": 1, "directory_id": None, "external_id": None, "role_ids": [123456],
             "group_id": 98765, "created_at": "2023-02-01T10:00:00.000Z", "updated_at": "2024-06-01T09:00:00.000Z",
             "last_login": "2024-06-01T08:59:00.000Z", "password_changed_at": "2024-03-01T00:00:00.000Z",
             "invalid_login_attempts": 0, "locked_until": None, "custom_attributes": {"employee_id": "E1234"}}


sim = sim_of("onelogin", seed=5)
_fresh_tokens = fresh_tokens


def _sim_connector(s: Simulator, tmp_path, **kw):
    return make(OneLogin, s.base_url("onelogin"), kw.pop("creds", CREDS), tmp_path, **{"page_size": 10, **kw})


def _token(expires_in=36000):
    responses.add(responses.POST, f"{BASE}/auth/oauth2/v2/token",
                  json={"access_token": "tok", "created_at": "2024-06-01T00:00:00.000Z", "expires_in": expires_in,
                        "token_type": "bearer", "account_id": 1})


def test_golden_the_fact_sheets_user():
    data = User.model_validate(OneLogin.normalize(FACT_USER))
    assert data.model_dump(exclude={"severity_score", "severity_label"}) == {
        "uid": "201234567", "email": "jdoe@example.com", "username": "jdoe", "full_name": "Jane Doe",
        "status": "active", "mfa": None, "created_time": "2023-02-01T10:00:00Z",
        "last_login_time": "2024-06-01T08:59:00Z", "modified_time": "2024-06-01T09:00:00Z",
        "groups": ["role:123456", "group:98765"]}


def test_normalize_is_total():
    odd = {**FACT_USER, "status": 6, "role_ids": 123456, "group_id": None, "email": "", "username": "ops@example.com",
           "firstname": None}
    data = User.model_validate(OneLogin.normalize(odd))
    assert (data.status, data.groups, data.email, data.full_name) == (
        "status_6", ["role:123456"], "ops@example.com", "Doe")
    assert OneLogin.normalize({**FACT_USER, "status": "x"})["status"] == "unknown"
    assert OneLogin.normalize({**FACT_USER, "status": None})["status"] is None
    with pytest.raises(KeyError):
        OneLogin.normalize({"username": "x@example.com"})


@responses.activate
def test_the_v2_token_and_the_after_cursor_header(tmp_path):
    _token()
    responses.add(responses.GET, USERS, json=[FACT_USER], headers={"After-Cursor": "8Mu2tgmZU-CZ"})
    responses.add(responses.GET, USERS, json=[dict(FACT_USER, id=201234568)], headers={"After-Cursor": ""})
    conn = make(OneLogin, BASE, {"client_id": "cid", "client_secret": "sec"}, tmp_path, page_size=1)
    records, pages = drain(conn)
    assert [r["id"] for r in records] == [201234567, 201234568] and pages == 2  # an empty header ends it
    grant = responses.calls[0].request
    assert grant.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:sec").decode()
    assert json.loads(grant.body) == {"grant_type": "client_credentials"}
    assert parse_qs(urlsplit(responses.calls[1].request.url).query) == {"limit": ["1"]}
    assert parse_qs(urlsplit(responses.calls[2].request.url).query) == {"limit": ["1"], "cursor": ["8Mu2tgmZU-CZ"]}
    drain(conn)  # the 10 h token is reused
    assert sum(c.request.url.endswith("/token") for c in responses.calls) == 1


@responses.activate
def test_429_waits_the_seconds_x_ratelimit_reset_names(tmp_path):
    _token()
    responses.add(responses.GET, USERS, status=429, json={"statusCode": 429, "name": "TooManyRequestsError",
                                                          "message": "rate limit exceeded"},
                  headers={"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3"})
    responses.add(responses.GET, USERS, json=[FACT_USER])
    sleeps = Sleeps()
    records, _ = drain(make(OneLogin, BASE, CREDS, tmp_path, sleep=sleeps))
    assert len(records) == 1 and sleeps == [3.0]


def test_a_reset_is_seconds_when_small_and_an_instant_when_epoch_sized():
    now = 1_800_000_000.0
    assert wait_from_headers({"X-RateLimit-Reset": "1200"}, now=now) == 1200.0  # OneLogin: seconds from now
    assert wait_from_headers({"X-RateLimit-Reset": str(int(now + 30))}, now=now) == 30.0  # an epoch


def test_empty_one_and_many_with_page_2(sim, tmp_path):
    for size, pages in ((0, 1), (1, 1), (25, 3)):
        s = sim(size)
        records, got = drain(_sim_connector(s, tmp_path))
        assert {r["id"] for r in records} == {int(i) for i in s.truth("onelogin")} and got == pages


def test_rate_limits_wait_the_simulators_seconds(sim, tmp_path):
    s = sim(25)
    s.set_faults("onelogin", rate_limit_every=2, retry_after_seconds=2)
    sleeps = Sleeps()
    records, _ = drain(_sim_connector(s, tmp_path, sleep=sleeps))
    assert len(records) == 25 and sleeps and all(1.0 <= w <= 2.0 for w in sleeps)  # seconds, not "epoch past"


def test_incremental_sync_asks_updated_since(sim, tmp_path):
    s = sim(20)
    conn = _sim_connector(s, tmp_path)
    records, _ = drain(conn)
    cursor = max(conn.cursor_value(r) for r in records)
    changed = s.mutate("onelogin", 0.25)
    later, _ = drain(conn, since=cursor)
    # updated_since is inclusive: the record at the cursor comes again (unchanged), every change comes
    assert {r["id"] for r in later} - {int(i) for i in changed} <= {
        r["id"] for r in records if conn.cursor_value(r) == cursor}
    assert {int(i) for i in changed} <= {r["id"] for r in later}
