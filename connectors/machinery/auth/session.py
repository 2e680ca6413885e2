"""Session login: POST credentials to a login path (a form, or a JSON body and login headers: Lacework's
`X-LW-UAKS` secret key), read a session token (or a session cookie), send it in a header.

Without `logout`, a token is shared by the process until its lifetime ends (Lacework's access token). With a
declared `logout` the session is owned (auth/owned_session.py): one login per connector instance (= one task),
never shared, logged out when the task ends, re-established once when it dies mid-task."""
from __future__ import annotations

import threading
import time
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from connectors.base import ConnectorConfig, SecretsProvider
from connectors.machinery.auth import Auth, AuthSpec
from connectors.machinery.auth.login import login
from connectors.machinery.auth.owned_session import OwnedSessionAuth
from connectors.machinery.templates import Spec
from nexus_sync.http import HttpClient


class Logout(Spec):
    """How an owned session ends: `form` / `params` are templates over `{session}` (ArcSight's authToken)."""

    path: str
    method: Literal["GET", "POST"] = "GET"
    form: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)


class SessionLogin(AuthSpec):
    kind: Literal["session"] = "session"
    path: str
    form: dict[str, str] = Field(default_factory=dict)  # templates over secrets, e.g. {"username": "{username}"}
    json_body: dict[str, Any] | None = None  # a JSON login body instead of the form (templates over secrets)
    headers: dict[str, str] = Field(default_factory=dict)  # login headers, templates over secrets
    token: str | None = None  # dotted path of the token in the JSON answer; or
    cookie: str | None = None  # the session is this cookie of the login answer (Cybereason's JSESSIONID)
    # a cookie login answers a redirect: a Location holding one of these words means refused ("error", "reset")
    refused: tuple[str, ...] = ()
    # an answer that ended (after same-origin redirects) on this path means the session died (Cybereason's 302 to
    # /login.html instead of a 401): logged in again once, like a 401
    expired_path: str | None = None
    logout: Logout | None = None  # declared: an owned session (one per task, always logged out)
    param: str | None = None  # an owned session sent as this query parameter, not a header (ArcSight's authToken)
    body_field: str | None = None  # or as this field of the JSON body (ArcSight Logger's user_session_id)
    header: str = "Authorization"
    template: str = "Bearer {session}"
    lifetime_seconds: int = 3000

    @model_validator(mode="after")
    def _one_session(self) -> SessionLogin:
        if (self.token is None) == (self.cookie is None):
            raise ValueError("a session login reads a token (JSON path) or a cookie, exactly one")
        if (self.cookie or self.expired_path or self.param or self.body_field) and self.logout is None:
            raise ValueError("cookie, expired_path, param and body_field sessions are owned: declare their logout")
        if self.param and self.body_field:
            raise ValueError("a session goes in a query parameter or a body field, not both")
        return self

    def runtime(self, secrets: SecretsProvider, config: ConnectorConfig, http: HttpClient,
                template: dict[str, Any]) -> Auth:
        if self.logout is not None:
            return OwnedSessionAuth(secrets, self, config.root, http)
        return SessionAuth(secrets, self, config.root, http)


class SessionAuth(Auth):
    """SessionLogin at run time: one session per connector and base URL, shared by the process."""

    _sessions: ClassVar[dict[str, tuple[str, float]]] = {}
    _lock = threading.Lock()

    def __init__(self, secrets: SecretsProvider, spec: SessionLogin, root: str, http: HttpClient):
        self.secrets, self.spec, self.root, self.http = secrets, spec, root, http
        self._key = f"{secrets.connector_name}|{root}"

    def _login(self, refresh: bool) -> tuple[str, float]:
        return login(self.secrets, self.spec, self.root, self.http, refresh), time.time() + self.spec.lifetime_seconds

    def apply(self, headers: dict[str, str], force: bool = False) -> None:
        with self._lock:
            hit = self._sessions.get(self._key)
            if force or hit is None or hit[1] <= time.time():
                hit = self._sessions[self._key] = self._login(force)
        headers[self.spec.header] = self.spec.template.format(session=hit[0])

    def refresh(self) -> None:
        self.apply({}, force=True)
