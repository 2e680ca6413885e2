"""Google service accounts by google-auth (secret `service_account_json`: the key file's JSON on one line): an
RS256 JWT signed with the key, exchanged at the token URI for an access token (the JWT-bearer grant, RFC 7523),
sent as Bearer and refreshed before it expires.

google-auth signs and reads the grant; the POST itself goes through nexus_sync.http.post_credentials (no
redirect followed, bounded, errors without the body), only to the configured token URI's origin: the key
file's `token_uri`, or the connector config's `token_url` where set (the simulator serves it). The key, the
signed assertion and every access token are registered for redaction."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import parse_qsl

from connectors.base import ConnectorConfig, SecretsProvider
from connectors.machinery.auth import Auth, AuthSpec
from nexus_sync.credentials import remember_sent
from nexus_sync.errors import AuthError, ConfigError, VendorDataError
from nexus_sync.http import HttpClient, post_credentials
from nexus_sync.origin import check_origin, origin_of
from nexus_sync.urls import require_https

if TYPE_CHECKING:  # google-auth (with cryptography) takes ~0.4 s to import: only a Google connector pays it
    from google.oauth2 import service_account

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
SECRET = "service_account_json"


class GoogleServiceAccount(AuthSpec):
    kind: Literal["google_service_account"] = "google_service_account"
    scopes: tuple[str, ...] = (CLOUD_PLATFORM,)

    def config_fields(self) -> dict[str, Any]:
        return {"token_url": (str | None, None)}  # None: the key file's token_uri

    def runtime(self, secrets: SecretsProvider, config: ConnectorConfig, http: HttpClient,
                template: dict[str, Any]) -> Auth:
        return GoogleAuth(secrets, self.scopes, getattr(config, "token_url", None),
                          bool(getattr(config, "allow_insecure_http", False)), http)


class GoogleAuth(Auth):
    """One google-auth Credentials per connector and token URI, shared by the process (its token with it)."""

    _creds: ClassVar[dict[str, tuple["service_account.Credentials", str]]] = {}  # key -> (creds, token URI)
    _lock = threading.Lock()

    def __init__(self, secrets: SecretsProvider, scopes: tuple[str, ...], token_url: str | None,
                 allow_insecure_http: bool, http: HttpClient):
        self.secrets, self.scopes, self.token_url, self.http = secrets, scopes, token_url, http
        self.allow_insecure_http = allow_insecure_http
        self._key = f"{secrets.connector_name}|{token_url}"

    def _what(self) -> str:
        return f"connector {self.secrets.connector_name!r}"

    def _credentials(self, refresh_secrets: bool) -> tuple["service_account.Credentials", str]:
        """Credentials from the stored key file; AuthError (never quoting it) for one that is no key."""
        from google.oauth2 import service_account

        text = self.secrets.get((SECRET,), refresh_secrets)[SECRET].get_secret_value()
        try:
            info = json.loads(text)
        except ValueError:
            raise AuthError(f"{self._what()}: secret {SECRET!r} is not a service-account key file's JSON") from None
        if not isinstance(info, dict) or info.get("type") != "service_account":
            raise AuthError(f"{self._what()}: secret {SECRET!r} is not a service-account key (type)")
        remember_sent(*(str(info.get(k) or "") for k in ("private_key", "private_key_id")))
        token_uri = self.token_url or info.get("token_uri")
        if not isinstance(token_uri, str) or not token_uri:
            raise ConfigError(f"{self._what()}: no token URI (key file token_uri, or config token_url)")
        require_https(token_uri, "token_uri", self.allow_insecure_http)
        try:
            return service_account.Credentials.from_service_account_info(
                {**info, "token_uri": token_uri}, scopes=list(self.scopes)), token_uri
        except (ValueError, TypeError, KeyError):  # its text may quote the key: say which fields instead
            raise AuthError(f"{self._what()}: secret {SECRET!r} is not a usable service-account key (needs "
                            "client_email, private_key, token_uri)") from None

    def token(self, force: bool = False) -> str:
        from google.auth import exceptions as google_errors

        with self._lock:
            hit = self._creds.get(self._key)
            if force or hit is None:
                hit = self._credentials(refresh_secrets=force)
            creds, token_uri = hit
            if force or not creds.valid:  # valid: a token that is not within google-auth's refresh margin
                self._creds.pop(self._key, None)  # kept only once its grant worked: a fixed key is read again
                try:
                    creds.refresh(_Transport(self.http, token_uri, self._what()))
                except google_errors.RefreshError:  # its message carries the answer: say what failed only
                    raise VendorDataError(f"{self._what()}: the token answer has no usable access_token") from None
                except google_errors.GoogleAuthError as exc:  # a key google-auth cannot sign with
                    raise AuthError(f"{self._what()}: service-account JWT grant failed "
                                    f"({type(exc).__name__})") from None
            token = str(creds.token or "")
            if not token:
                raise VendorDataError(f"{self._what()}: the token answer has no usable access_token")
            remember_sent(token)
            self._creds[self._key] = hit
            return token

    def apply(self, headers: dict[str, str]) -> None:
        headers["Authorization"] = f"Bearer {self.token()}"

    def refresh(self) -> None:
        self.token(force=True)


@dataclass(frozen=True)
class _Response:
    """What google-auth reads of an answer (google.auth.transport.Response, by duck typing)."""

    status: int
    headers: Any
    data: bytes


class _Transport:
    """google-auth's transport (google.auth.transport.Request, by duck typing) for the token grant: only the configured token URI's origin, only a form POST,
    through post_credentials (a non-2xx answer is our AuthError / RateLimited / TransientError, not google-auth's
    RefreshError, which would quote the body)."""

    def __init__(self, http: HttpClient, token_uri: str, what: str):
        self.http, self.origin, self.what = http, origin_of(token_uri), what

    def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None,
                 timeout: Any = None, **kwargs: Any) -> _Response:
        check_origin(url, self.origin, self.what, what="a token request")
        if method != "POST" or not isinstance(body, (bytes, str)):
            raise ConfigError(f"{self.what}: google-auth asked for {method} {url.split('?', 1)[0]}: not a token grant")
        form = dict(parse_qsl(body.decode() if isinstance(body, bytes) else body))
        remember_sent(form.get("assertion", ""))  # the signed JWT is a credential too
        resp = post_credentials(self.http, url, data=form, what="service-account token request",
                                connector=self.http.label if self.http.label != "?" else None)
        return _Response(resp.status_code, resp.headers, resp.content)
