"""OAuth2 client credentials, shared by declared connectors (connectors.declarative builds the other auth
kinds). apply(headers) and refresh() serve the HTTP client's one-retry-on-401."""
from __future__ import annotations

import threading
import time
from typing import Any

import requests

from connectors.base import SecretsProvider
from nexus_sync.errors import AuthError, ConfigError, TransientError

REFRESH_MARGIN = 60.0  # refresh OAuth tokens this long before they expire


class OAuth2ClientCredentials:
    """Token from a client-credentials grant, cached per process and refreshed before expiry."""

    _tokens: dict[str, tuple[str, float]] = {}
    _lock = threading.Lock()

    def __init__(self, secrets: SecretsProvider, token_url: str, extra_form: dict[str, str] | None = None,
                 timeout: float = 30.0):
        self.secrets, self.token_url, self.extra_form, self.timeout = secrets, token_url, extra_form or {}, timeout
        self._key = f"{secrets.connector_name}|{token_url}"

    def _fetch(self, refresh_secrets: bool) -> tuple[str, float]:
        creds = self.secrets.get(("client_id", "client_secret"), refresh=refresh_secrets)
        form = {"client_id": creds["client_id"].get_secret_value(),
                "client_secret": creds["client_secret"].get_secret_value(), **self.extra_form}
        try:
            resp = requests.post(self.token_url, data=form, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"token request to {self.token_url} failed: {type(exc).__name__}") from None
        if resp.status_code in (400, 401, 403):
            raise AuthError(f"token request to {self.token_url} refused: {resp.status_code}")
        if resp.status_code == 404:
            raise ConfigError(f"token endpoint {self.token_url} not found (check base_url)")
        if resp.status_code >= 300:
            raise TransientError(f"token request to {self.token_url}: {resp.status_code}")
        body: dict[str, Any] = resp.json()
        return body["access_token"], time.time() + float(body.get("expires_in", 1799))

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
