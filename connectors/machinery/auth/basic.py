"""HTTP Basic from the secrets `username` and `password`."""
from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import Field

from connectors.base import ConnectorConfig, SecretsProvider
from connectors.machinery.auth import Auth, AuthSpec
from nexus_sync.http import HttpClient


class BasicAuth(AuthSpec):
    kind: Literal["basic"] = "basic"
    extra_headers: dict[str, str] = Field(default_factory=dict)  # e.g. Qualys' X-Requested-With

    def runtime(self, secrets: SecretsProvider, config: ConnectorConfig, http: HttpClient,
                template: dict[str, Any]) -> Auth:
        return Basic(secrets, self)


class Basic(Auth):
    def __init__(self, secrets: SecretsProvider, spec: BasicAuth):
        self.secrets, self.spec = secrets, spec
        self._refresh = False

    def apply(self, headers: dict[str, str]) -> None:
        s = self.secrets.get(("username", "password"), self._refresh)
        self._refresh = False
        pair = f"{s['username'].get_secret_value()}:{s['password'].get_secret_value()}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        headers.update(self.spec.extra_headers)

    def refresh(self) -> None:
        self._refresh = True
