"""Entra ID users via Graph: unit tests with `responses` (the contract runs against the simulator)."""
from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import responses

from connectors.auth import OAuth2ClientCredentials
from connectors.entra import CONNECTOR as EntraUsers
from nexus_sync.models import User
from tests.connectors.util import Sleeps, drain, make

BASE = "https://graph.microsoft.com"
URL = f"{BASE}/v1.0/users"
TOKEN_URL = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
USER = {"id": "0b6e2a9c-1111-4a4a-9b9b-123456789abc", "userPrincipalName": "jdoe@contoso.com",
        "displayName": "Jane Doe", "mail": "JDoe@Contoso.com", "givenName": "Jane", "surname": "Doe",
        "accountEnabled": True, "jobTitle": "Analyst", "department": "SecOps", "employeeId": "E1234"}


@pytest.fixture(autouse=True)
def _fresh_tokens():
    OAuth2ClientCredentials._tokens.clear()


def _connector(tmp_path, **kw):
    return make(EntraUsers, BASE, {"client_id": "app", "client_secret": "s"}, tmp_path,
                tenant="contoso.onmicrosoft.com", **kw)


def _token():
    responses.add(responses.POST, TOKEN_URL, json={"token_type": "Bearer", "expires_in": 3599, "access_token": "gt"})


def test_normalize_maps_the_skeleton_user():
    data = User.model_validate(EntraUsers.normalize(USER))
    assert data.email == "jdoe@contoso.com" and data.username == "jdoe@contoso.com"
    assert data.full_name == "Jane Doe" and data.status == "enabled"


def test_a_user_without_mail_is_keyed_by_upn_and_one_without_upn_is_invalid():
    assert EntraUsers.normalize(dict(USER, mail=None))["email"] == "jdoe@contoso.com"
    with pytest.raises(KeyError):
        EntraUsers.normalize({k: v for k, v in USER.items() if k != "userPrincipalName"})


@responses.activate
def test_first_page_selects_and_the_skiptoken_link_is_followed_as_is(tmp_path):
    _token()
    nxt = f"{URL}?$top=1&$skiptoken=RFNwdAIAAQAAAD8"
    responses.add(responses.GET, URL, json={"value": [USER], "@odata.nextLink": nxt})
    responses.add(responses.GET, nxt, json={"value": [dict(USER, id="2", mail="b@contoso.com")]})
    records, pages = drain(_connector(tmp_path, page_size=1))
    assert [r["id"] for r in records] == [USER["id"], "2"] and pages == 2
    assert parse_qs(responses.calls[0].request.body)["scope"] == ["https://graph.microsoft.com/.default"]
    first = parse_qs(responses.calls[1].request.url.split("?", 1)[1])
    assert first["$top"] == ["1"] and "accountEnabled" in first["$select"][0]
    assert responses.calls[1].request.headers["Authorization"] == "Bearer gt"
    assert responses.calls[2].request.url == nxt


@responses.activate
def test_429_retry_after_is_waited_out(tmp_path):
    _token()
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "2"},
                  json={"error": {"code": "TooManyRequests", "message": "throttled"}})
    responses.add(responses.GET, URL, json={"value": [USER]})
    sleeps = Sleeps()
    records, _ = drain(_connector(tmp_path, sleep=sleeps))
    assert len(records) == 1 and sleeps == [2.0]
