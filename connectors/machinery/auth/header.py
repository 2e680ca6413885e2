"""A header built from secrets: `SSWS {token}`, `ApiToken {token}`, `accessKey={access_key};...`."""
from __future__ import annotations

from typing import Any, Literal

from connectors.base import ConnectorConfig, SecretsProvider
from connectors.machinery.auth import Auth, AuthSpec
from connectors.machinery.templates import template_fields
from nexus_sync.http import HttpClient


class HeaderAuth(AuthSpec):
    kind: Literal["header"] = "header"
    header: str = "Authorization"
    template: str = "Bearer {token}"  # "{name}": the secret `name`

    def runtime(self, secrets: SecretsProvider, config: ConnectorConfig, http: HttpClient,
                template: dict[str, Any]) -> Auth:
        return TemplateHeader(secrets, self)


class TemplateHeader(Auth):
    """HeaderAuth at run time: re-reads the store on refresh()."""

    def __init__(self, secrets: SecretsProvider, spec: HeaderAuth):
        self.secrets, self.spec = secrets, spec
        self.fields = tuple(sorted(template_fields(spec.template)))
        self._refresh = False

    def apply(self, headers: dict[str, str]) -> None:
        values = {k: v.get_secret_value() for k, v in self.secrets.get(self.fields, self._refresh).items()}
        self._refresh = False
        headers[self.spec.header] = self.spec.template.format(**values)

    def refresh(self) -> None:
        self._refresh = True
