"""Entra ID users via Graph: unit tests with `responses` (the contract runs against the simulator)."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from responses import matchers

from connectors import cursors
from connectors.entra import CONNECTOR as EntraUsers
from connectors.machinery import OAuth2ClientCredentials
from nexus_sync.errors import ConfigError, VendorDataError
from nexus_sync.models import User
from tests.connectors.util import Sleeps, drain, make

BASE = "https://graph.microsoft.com"
URL = f"{BASE}/v1.0/users"
DELTA = f"{BASE}/v1.0/users/delta"
BIN = f"{BASE}/v1.0/directory/deletedItems/microsoft.graph.user"
TOKEN_URL = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
USER = {"id": "0b6e2a9c-1111-4a4a-9b9b-123456789abc", "userPrincipalName": "jdoe@contoso.com",
        "displayName": "Jane Doe", "mail": "JDoe@Contoso.com", "givenName": "Jane", "surname": "Doe",
        "accountEnabled": True, "jobTitle": "Analyst", "department": "SecOps", "employeeId": "E1234"}
GONE = dict(USER, id="9d0c7a1e-2222-4b4b-8c8c-0123456789ab", mail="gone@contoso.com",
            deletedDateTime="2024-06-01T10:00:00Z")
LINK = f"{DELTA}?$deltatoken=oldToken"
SAVED = cursors.stamp(LINK, cursors.instant("2024-06-01T00:00:00Z", "iso"))


@pytest.fixture(autouse=True)
def _fresh_tokens():
    OAuth2ClientCredentials._tokens.clear()


def _connector(tmp_path, **kw):
    return make(EntraUsers, BASE, {"client_id": "app", "client_secret": "s"}, tmp_path,
                tenant="contoso.onmicrosoft.com", **kw)


def _token():
    responses.add(responses.POST, TOKEN_URL, json={"token_type": "Bearer", "expires_in": 3599, "access_token": "gt"})


def _get(url, body, status=200, **query):
    responses.add(responses.GET, url, json=body, status=status,
                  match=[matchers.query_param_matcher(query, strict_match=False)] if query else [])


def _graph_error(code):
    return {"error": {"code": code, "message": "start over"}}


def _full(users=(USER,), deleted=(GONE,), link=f"{DELTA}?$deltatoken=fresh"):
    """The answers of a full sync: the latest delta link, /users, then the recycle bin."""
    _get(DELTA, {"value": [], "@odata.deltaLink": link}, **{"$deltatoken": "latest"})
    _get(URL, {"value": list(users)})
    _get(BIN, {"value": list(deleted)})


def _pages(conn, since=None):
    pages, state = [], None
    while True:
        page = conn.fetch_page(state, since)
        pages.append(page)
        if page.next is None:
            return pages
        state = page.next


def test_normalize_maps_the_skeleton_user():
    data = User.model_validate(EntraUsers.normalize(USER))
    assert data.email == "jdoe@contoso.com" and data.username == "jdoe@contoso.com"
    assert data.full_name == "Jane Doe" and data.status == "enabled"
    assert User.model_validate(EntraUsers.normalize(GONE)).status == "deleted"


def test_a_user_without_mail_is_keyed_by_upn_and_one_without_upn_is_invalid():
    assert EntraUsers.normalize(dict(USER, mail=None))["email"] == "jdoe@contoso.com"
    with pytest.raises(KeyError):
        EntraUsers.normalize({k: v for k, v in USER.items() if k != "userPrincipalName"})
    with pytest.raises(ValueError, match="deleted permanently"):
        EntraUsers.normalize({"id": USER["id"], "@removed": {"reason": "deleted"}})


@responses.activate
def test_a_full_sync_takes_the_latest_delta_link_then_lists_users_and_the_recycle_bin(tmp_path):
    _token()
    nxt = f"{URL}?$top=1&$skiptoken=RFNwdAIAAQAAAD8"
    _get(DELTA, {"value": [], "@odata.deltaLink": f"{DELTA}?$deltatoken=fresh"}, **{"$deltatoken": "latest"})
    _get(URL, {"value": [USER], "@odata.nextLink": nxt}, **{"$top": "1"})
    _get(URL, {"value": [dict(USER, id="2", mail="b@contoso.com")]}, **{"$skiptoken": "RFNwdAIAAQAAAD8"})
    _get(BIN, {"value": [GONE]})
    pages = _pages(_connector(tmp_path, page_size=1))
    assert [[r["id"] for r in p.records] for p in pages] == [[USER["id"]], ["2"], [GONE["id"]]]
    assert cursors.token_of(pages[0].cursor) == f"{DELTA}?$deltatoken=fresh"  # asked before the listing
    assert [p.cursor for p in pages[1:]] == [None, None]
    assert parse_qs(responses.calls[0].request.body)["scope"] == ["https://graph.microsoft.com/.default"]
    latest, first, second, recycled = (parse_qs(urlsplit(c.request.url).query) for c in responses.calls[1:])
    assert "accountEnabled" in latest["$select"][0] and "accountEnabled" in first["$select"][0]
    assert first["$top"] == ["1"]
    assert responses.calls[3].request.url == nxt and "deletedDateTime" in recycled["$select"][0]
    assert responses.calls[2].request.headers["Authorization"] == "Bearer gt"


@responses.activate
def test_an_incremental_sync_follows_the_delta_link_and_reads_deleted_users_back(tmp_path):
    _token()
    nxt = f"{DELTA}?$skiptoken=round2"
    _get(DELTA, {"value": [dict(USER, jobTitle="Lead")], "@odata.nextLink": nxt}, **{"$deltatoken": "oldToken"})
    _get(DELTA, {"value": [{"id": GONE["id"], "@removed": {"reason": "changed"}},
                           {"id": "purged", "@removed": {"reason": "deleted"}}],
                 "@odata.deltaLink": f"{DELTA}?$deltatoken=newToken"}, **{"$skiptoken": "round2"})
    _get(f"{BASE}/v1.0/directory/deletedItems/{GONE['id']}",
         {"@odata.context": "...", "@odata.type": "#microsoft.graph.user", **GONE})
    conn = _connector(tmp_path)
    pages = _pages(conn, since=SAVED)
    records = [r for p in pages for r in p.records]
    assert records == [dict(USER, jobTitle="Lead"), GONE, {"id": "purged", "@removed": {"reason": "deleted"}}]
    assert [p.cursor for p in pages[:-1]] == [None]
    assert cursors.token_of(pages[-1].cursor) == f"{DELTA}?$deltatoken=newToken"
    assert pages[-1].cursor > SAVED  # saved tokens order by age: the pipeline keeps the newer
    assert conn.normalize(GONE)["status"] == "deleted"


@pytest.mark.parametrize("status, code", [(400, "syncStateNotFound"), (410, "resyncRequired"), (410, None)])
@responses.activate
def test_a_dead_delta_link_runs_a_full_sync_instead_of_failing(tmp_path, status, code):
    _token()
    _get(DELTA, _graph_error(code) if code else {}, status=status, **{"$deltatoken": "oldToken"})
    _full()
    pages = _pages(_connector(tmp_path), since=SAVED)
    assert [r["id"] for p in pages for r in p.records] == [USER["id"], GONE["id"]]
    assert cursors.token_of(pages[0].cursor) == f"{DELTA}?$deltatoken=fresh"


@responses.activate
def test_an_expired_page_token_restarts_the_listing_and_loses_nobody(tmp_path):
    _token()
    nxt = f"{URL}?$skiptoken=stale"
    _get(DELTA, {"value": [], "@odata.deltaLink": f"{DELTA}?$deltatoken=fresh"}, **{"$deltatoken": "latest"})
    _get(URL, {"value": [USER], "@odata.nextLink": nxt}, **{"$top": "1"})
    _get(URL, _graph_error("Directory_ExpiredPageToken"), status=400, **{"$skiptoken": "stale"})
    _get(URL, {"value": [USER], "@odata.nextLink": f"{URL}?$skiptoken=fresh"}, **{"$top": "1"})
    _get(URL, {"value": [dict(USER, id="2", mail="b@contoso.com")]}, **{"$skiptoken": "fresh"})
    _get(BIN, {"value": []})
    pages = _pages(_connector(tmp_path, page_size=1))
    assert [r["id"] for p in pages for r in p.records] == [USER["id"], USER["id"], "2"]  # restarted, nobody lost
    assert pages[1].next["restarts"] == 1


@responses.activate
def test_an_expired_page_token_in_a_delta_round_restarts_the_round(tmp_path):
    _token()
    _get(DELTA, {"value": [USER], "@odata.nextLink": f"{DELTA}?$skiptoken=stale"}, **{"$deltatoken": "oldToken"})
    _get(DELTA, _graph_error("Directory_ExpiredPageToken"), status=400, **{"$skiptoken": "stale"})
    _get(DELTA, {"value": [USER], "@odata.deltaLink": f"{DELTA}?$deltatoken=newToken"}, **{"$deltatoken": "oldToken"})
    pages = _pages(_connector(tmp_path), since=SAVED)
    assert [len(p.records) for p in pages] == [1, 1] and cursors.token_of(pages[-1].cursor).endswith("newToken")


@responses.activate
def test_page_tokens_that_keep_expiring_fail_the_sync_after_a_few_restarts(tmp_path):
    _token()
    _get(DELTA, {"value": [], "@odata.deltaLink": f"{DELTA}?$deltatoken=fresh"}, **{"$deltatoken": "latest"})
    _get(URL, {"value": [USER], "@odata.nextLink": f"{URL}?$skiptoken=stale"}, **{"$top": "999"})
    _get(URL, _graph_error("Directory_ExpiredPageToken"), status=400, **{"$skiptoken": "stale"})
    with pytest.raises(VendorDataError, match="start over 4 times"):
        drain(_connector(tmp_path))


@responses.activate
def test_a_start_over_answer_where_nothing_can_start_over_fails_the_page(tmp_path):
    _token()
    _get(DELTA, _graph_error("resyncRequired"), status=410, **{"$deltatoken": "latest"})
    with pytest.raises(VendorDataError, match="start over"):
        drain(_connector(tmp_path))


@responses.activate
def test_another_graph_error_still_fails_with_its_code(tmp_path):
    _token()
    _get(DELTA, _graph_error("Request_BadRequest"), status=400, **{"$deltatoken": "oldToken"})
    with pytest.raises(VendorDataError, match=r"400 Bad Request \[Request_BadRequest\]"):
        drain(_connector(tmp_path), since=SAVED)


def test_a_saved_delta_link_off_the_base_origin_is_never_used(tmp_path):
    foreign = cursors.stamp("https://attacker.example/v1.0/users/delta?$deltatoken=x",
                            cursors.instant("2024-06-01T00:00:00Z", "iso"))
    with pytest.raises(ConfigError):  # the pipeline then clears it and runs a full sync
        _connector(tmp_path).saved_cursor(foreign)
    with pytest.raises(ConfigError):
        _connector(tmp_path).saved_cursor("2024-06-01T00:00:00Z")  # not a token cursor


@responses.activate
def test_429_retry_after_is_waited_out(tmp_path):
    _token()
    responses.add(responses.GET, DELTA, status=429, headers={"Retry-After": "2"},
                  json={"error": {"code": "TooManyRequests", "message": "throttled"}})
    _full(deleted=())
    sleeps = Sleeps()
    records, _ = drain(_connector(tmp_path, sleep=sleeps))
    assert len(records) == 1 and sleeps == [2.0]


def test_a_token_cursor_is_a_received_at_time_and_the_vendor_token_checked_as_such():
    at = cursors.instant("2024-06-01T10:00:00.5Z", "iso")
    text = cursors.stamp(LINK, at)
    assert text == f"2024-06-01T10:00:00.500000Z {LINK}" and cursors.canonical(text, "token") == text
    assert cursors.token_of(text) == LINK
    later = cursors.instant("2024-06-02T00:00:00Z", "iso")
    assert cursors.stamp(LINK, at) < cursors.stamp(f"{DELTA}?$deltatoken=a", later)  # saved tokens order by age
    for bad in (LINK, f"2024-06-01T10:00:00Z {LINK} more", f"yesterday {LINK}", "2024-06-01T10:00:00Z " + "x" * 4097,
                f"2024-06-01T10:00:00Z {LINK}\n", None, 5):
        with pytest.raises(ValueError):
            cursors.canonical(bad, "token")


def test_a_token_cursor_is_never_a_record_field_or_a_query_value():
    from connectors.machinery import BrokenDeclaration, Declaration, HeaderAuth, NextUrlPaging, Request, declare

    for extra in ({"cursor_field": "link"}, {"since_format": "%Y"}):
        decl = Declaration(type="acme", title="Acme", category="identity", kind="user", auth=HeaderAuth(),
                           request=Request(path="/u"), paging=NextUrlPaging(), id_field="id", cursor_format="token",
                           **extra)
        with pytest.raises(BrokenDeclaration, match="token cursor"):
            declare(decl, dict)
