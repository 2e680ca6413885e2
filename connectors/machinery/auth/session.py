"""Session login: POST credentials to a login path (a form, or a JSON body and login headers: Lacework's
`X-LW-UAKS` secret key), read a session token, send it in a header."""
from __future__ import annotations

import threading
import time
from typing import Any, ClassVar, Literal

import orjson
from pydantic import Field

from connectors.base import ConnectorConfig, SecretsProvider
from connectors.machinery.auth import Auth, AuthSpec
from connectors.machinery.templates import fill, template_fields
from nexus_sync.credentials import remember_sent
from nexus_sync.errors import VendorDataError
from nexus_sync.http import HttpClient, dig, post_credentials


class SessionLogin(AuthSpec):
    kind: Literal["session"] = "session"
    path: str
    form: dict[str, str] = Field(default_factory=dict)  # templates over secrets, e.g. {"username": "{username}"}
    json_body: dict[str, Any] | None = None  # a JSON login body instead of the form (templates over secrets)
    headers: dict[str, str] = Field(default_factory=dict)  # login headers, templates over secrets
    token: str  # dotted path of the token in the JSON answer
    header: str = "Authorization"
    template: str = "Bearer {session}"
    lifetime_seconds: int = 3000

    def runtime(self, secrets: SecretsProvider, config: ConnectorConfig, http: HttpClient,
                template: dict[str, Any]) -> Auth:
        return SessionAuth(secrets, self, config.root, http)


class SessionAuth(Auth):
    """SessionLogin at run time: one session per connector and base URL, shared by the process."""

    _sessions: ClassVar[dict[str, tuple[str, float]]] = {}
    _lock = threading.Lock()

    def __init__(self, secrets: SecretsProvider, spec: SessionLogin, root: str, http: HttpClient):
        self.secrets, self.spec, self.root, self.http = secrets, spec, root, http
        self.fields = tuple(sorted(template_fields([spec.form, spec.json_body or {}, spec.headers])))
        self._key = f"{secrets.connector_name}|{root}"

    def _login(self, refresh: bool) -> tuple[str, float]:
        values = {k: v.get_secret_value() for k, v in self.secrets.get(self.fields, refresh).items()}
        what = f"connector {self.secrets.connector_name!r}: session login {self.spec.path}"
        json_body = fill(self.spec.json_body, values) if self.spec.json_body is not None else None
        resp = post_credentials(self.http, self.root + self.spec.path, timeout=self.http.timeout, what=what,
                                data=fill(self.spec.form, values) if json_body is None else None,
                                json_body=json_body, headers=fill(self.spec.headers, values))
        try:
            token = dig(orjson.loads(resp.content), self.spec.token)
        except ValueError:
            raise VendorDataError(f"{what}: the answer is not JSON") from None
        if not isinstance(token, (str, int)) or not str(token):
            raise VendorDataError(f"{what}: no session token at {self.spec.token!r}")
        remember_sent(str(token))
        return str(token), time.time() + self.spec.lifetime_seconds

    def apply(self, headers: dict[str, str], force: bool = False) -> None:
        with self._lock:
            hit = self._sessions.get(self._key)
            if force or hit is None or hit[1] <= time.time():
                hit = self._sessions[self._key] = self._login(force)
        headers[self.spec.header] = self.spec.template.format(session=hit[0])

    def refresh(self) -> None:
        self.apply({}, force=True)
