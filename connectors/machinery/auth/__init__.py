"""Auth kinds of declared connectors, one module each: the spec a vendor declares and its runtime.

A new kind is a module here with an AuthSpec subclass (`kind: Literal["name"] = "name"`, `runtime(...)`) and
an Auth subclass; re-exported by connectors.machinery so declarations import it from there. The HTTP client
calls a runtime's apply(headers) on every attempt and refresh() once on a 401; a kind that must see the whole
request (a signature over method, URL and body) overrides Auth.send. Credentials go only to the connector's
own origin: the HTTP client refuses any other, and logins never follow a redirect (DESIGN §10)."""
from __future__ import annotations

from typing import Any, ClassVar

import requests

from connectors.base import ConnectorConfig, SecretsProvider
from connectors.machinery.kinds import Kind
from nexus_sync.http import HttpClient


class Auth:
    """An auth kind at run time."""

    def apply(self, headers: dict[str, str]) -> None:
        """Add the credentials to one attempt's headers."""

    def refresh(self) -> None:
        """The vendor said 401: re-read the secrets / get a new token before the one retry."""

    def close(self) -> None:
        """The task is over: end what this runtime holds at the vendor (an owned session's logout)."""

    def send(self, http: HttpClient, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request through the connector's HTTP client, authenticated by this runtime."""
        return http.request(method, url, auth=self, **kwargs)


class AuthSpec(Kind):
    """What a vendor declares as `auth=`."""

    kinds: ClassVar[dict[str, type[Kind]]] = {}

    def config_used(self) -> set[str]:
        """The connector config fields this kind's templates read (a declared field nobody reads fails)."""
        return set()

    def config_fields(self) -> dict[str, Any]:
        """Config settings this kind adds to the connector's config: name -> (type, default)."""
        return {}

    def runtime(self, secrets: SecretsProvider, config: ConnectorConfig, http: HttpClient,
                template: dict[str, Any]) -> Auth:
        raise NotImplementedError
