"""Issue 10 finding 4, session logins: the login POST never follows a redirect (a 307 would replay the password
to wherever it points), and the session token it returns is known to the redactor from then on."""
from __future__ import annotations

import json

from connectors.machinery import Declaration, OffsetPaging, Request, SessionLogin, declare
from nexus_sync.credentials import redact
from nexus_sync.errors import AuthError, SyncError
from tests.connectors.local_server import LocalServer
from tests.connectors.util import drain, make

DECL = Declaration(type="acme", title="Acme", category="edr", kind="asset", id_field="id", records="items",
                   auth=SessionLogin(path="/api/login", form={"user": "{username}", "pass": "{password}"},
                                     token="session.key", header="X-Session", template="{session}"),
                   request=Request(path="/devices"), paging=OffsetPaging(), page_size=10)
Acme = declare(DECL, lambda raw: {"uid": raw["id"]})  # sessions are cached per base URL: each test has its own


def test_a_login_redirected_to_another_origin_is_not_followed(tmp_path):
    with LocalServer() as vendor, LocalServer() as attacker:
        vendor.add("POST", "/api/login", status=307, headers={"Location": f"{attacker.url}/steal"})
        attacker.add("POST", "/steal", json.dumps({"session": {"key": "stolen"}}))
        try:
            drain(make(Acme, vendor.url, {"username": "u", "password": "login-canary-pw"}, tmp_path))
            error = None
        except SyncError as exc:
            error = exc
    assert attacker.received == [], f"the password went to {attacker.url}: {attacker.received[0].body!r}"
    assert isinstance(error, AuthError) and "redirect" in str(error) and "login-canary-pw" not in str(error)


def test_the_session_token_is_redacted_once_it_was_sent(tmp_path):
    token = "sess-0f3c9a7e5b1d4c2a"
    with LocalServer() as vendor:
        vendor.add("POST", "/api/login", json.dumps({"session": {"key": token}}))
        vendor.add("GET", "/devices", json.dumps({"items": [{"id": "a"}]}))
        records, _ = drain(make(Acme, vendor.url, {"username": "u", "password": "p4ssw0rd-x"}, tmp_path))
    assert records == [{"id": "a"}] and vendor.received[1].headers["X-Session"] == token
    assert redact(f"worker log: X-Session={token}") == "worker log: X-Session=***"
