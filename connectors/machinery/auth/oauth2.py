"""OAuth2 client credentials: the token cached per process and refreshed before it expires. The grant is
POSTed by nexus_sync.http.post_credentials: no redirect followed, bounded, errors without the body."""
from __future__ import annotations

import base64
import threading
import time
from typing import Any, Literal

from pydantic import Field

from connectors.base import ConnectorConfig, SecretsProvider
from connectors.machinery.auth import Auth, AuthSpec
from connectors.machinery.templates import fill, template_fields
from nexus_sync.credentials import remember_sent
from nexus_sync.errors import VendorDataError
from nexus_sync.http import HttpClient, credential_forms, dig, parse_json, post_credentials

REFRESH_MARGIN = 60.0  # refresh OAuth tokens this long before they expire


class OAuth2(AuthSpec):
    """Client credentials (secrets client_id, client_secret); token_url may use config fields, and the
    config's own `token_url` overrides it."""

    kind: Literal["oauth2"] = "oauth2"
    token_url: str
    scope: str | None = None
    # extra token-request fields, constant or config templates (Wiz' audience, CrowdStrike's MSSP
    # "{member_cid}"); a field whose template fills empty is left out of the request
    form: dict[str, str] = Field(default_factory=dict)
    # where the client id and secret go: the form (client_secret_post) or an HTTP Basic header
    # (client_secret_basic: Salesforce, OneLogin); and how the grant is encoded: a form, or JSON (OneLogin)
    client_auth: Literal["form", "basic"] = "form"
    body: Literal["form", "json"] = "form"

    def config_used(self) -> set[str]:
        return template_fields(self.token_url) | template_fields(self.form)

    def config_fields(self) -> dict[str, Any]:
        return {"token_url": (str | None, None)}

    def runtime(self, secrets: SecretsProvider, config: ConnectorConfig, http: HttpClient,
                template: dict[str, Any]) -> Auth:
        url = getattr(config, "token_url", None) or fill(self.token_url, template)
        form = {k: v for k, v in fill(self.form, template).items() if v not in (None, "")}
        extra = {"grant_type": "client_credentials", **({"scope": self.scope} if self.scope else {}), **form}
        return OAuth2ClientCredentials(secrets, url, extra, timeout=http.timeout, http=http,
                                       client_auth=self.client_auth, body=self.body)


class OAuth2ClientCredentials(Auth):
    """OAuth2 at run time: a token from a client-credentials grant, shared by the process per connector and
    token URL."""

    _tokens: dict[str, tuple[str, float]] = {}
    _lock = threading.Lock()

    def __init__(self, secrets: SecretsProvider, token_url: str, extra_form: dict[str, str] | None = None,
                 timeout: float = 30.0, http: HttpClient | None = None, client_auth: str = "form",
                 body: str = "form"):
        self.secrets, self.token_url, self.extra_form, self.timeout = secrets, token_url, extra_form or {}, timeout
        self.http = http  # the connector's client, for its deadline and size cap (None: the settings' defaults)
        self.client_auth, self.body = client_auth, body
        self._key = f"{secrets.connector_name}|{token_url}"

    def _fetch(self, refresh_secrets: bool) -> tuple[str, float]:
        creds = self.secrets.get(("client_id", "client_secret"), refresh=refresh_secrets)
        client_id, secret = creds["client_id"].get_secret_value(), creds["client_secret"].get_secret_value()
        headers: dict[str, str] = {}
        form = dict(self.extra_form)
        if self.client_auth == "basic":
            headers["Authorization"] = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
            remember_sent(*credential_forms(headers["Authorization"]))
        else:
            form = {"client_id": client_id, "client_secret": secret, **form}
        resp = post_credentials(self.http, self.token_url, data=form if self.body == "form" else None,
                                json_body=form if self.body == "json" else None, headers=headers,
                                timeout=self.timeout, what="token request", connector=self.secrets.connector_name)
        body: Any = parse_json(resp.content, f"token request to {self.token_url.split('?', 1)[0]}")
        token = dig(body, "access_token")
        if not isinstance(token, str) or not token:
            raise VendorDataError(f"connector {self.secrets.connector_name!r}: token answer has no access_token")
        remember_sent(token)
        try:
            lifetime = float(dig(body, "expires_in") or 1799)
        except (TypeError, ValueError):
            lifetime = 1799.0
        return token, time.time() + lifetime

    def token(self, force: bool = False) -> str:
        with self._lock:
            hit = self._tokens.get(self._key)
            if force or hit is None or hit[1] - REFRESH_MARGIN <= time.time():
                hit = self._fetch(refresh_secrets=force)
                self._tokens[self._key] = hit
            return hit[0]

    def apply(self, headers: dict[str, str]) -> None:
        headers["Authorization"] = f"Bearer {self.token()}"

    def refresh(self) -> None:
        self.token(force=True)
