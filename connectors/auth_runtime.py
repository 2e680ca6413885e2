"""Auth kinds of declared connectors: the spec a vendor declares, and its runtime (spec.runtime(...)).

A runtime has apply(headers) and refresh(), which the HTTP client calls (refresh once on a 401); a runtime
with sign(method, url, headers, body) signs whole requests (SigV4). OAuth2
client credentials live in connectors.auth. Credentials go only to the connector's own origin: the HTTP
client refuses any other, and the session login POST never follows a redirect (DESIGN §10)."""
from __future__ import annotations

import base64
import threading
import time
from typing import Any, ClassVar, Literal, Union

import orjson
from pydantic import Field

from connectors.base import _dig
from connectors.templates import Spec, fill, template_fields
from nexus_sync.credentials import remember_sent
from nexus_sync.errors import ConfigError, VendorDataError


# ----------------------------------------------------------------------------------- specs
class HeaderAuth(Spec):
    """A header built from secrets: `SSWS {token}`, `ApiToken {token}`, `accessKey={access_key};...`."""

    kind: Literal["header"] = "header"
    header: str = "Authorization"
    template: str = "Bearer {token}"

    def runtime(self, secrets: Any, config: Any, http: Any, template_ctx: dict[str, Any]) -> Any:
        return TemplateHeader(secrets, self)


class BasicAuth(Spec):
    kind: Literal["basic"] = "basic"
    extra_headers: dict[str, str] = Field(default_factory=dict)  # e.g. Qualys' X-Requested-With

    def runtime(self, secrets: Any, config: Any, http: Any, template_ctx: dict[str, Any]) -> Any:
        return Basic(secrets, self)


class OAuth2(Spec):
    """Client credentials; token_url may use config fields; config `token_url` overrides it."""

    kind: Literal["oauth2"] = "oauth2"
    token_url: str
    scope: str | None = None
    form: dict[str, str] = Field(default_factory=dict)  # extra token-request fields, e.g. Wiz' audience

    def runtime(self, secrets: Any, config: Any, http: Any, template_ctx: dict[str, Any]) -> Any:
        from connectors.auth import OAuth2ClientCredentials

        url = getattr(config, "token_url", None) or fill(self.token_url, template_ctx)
        extra = {"grant_type": "client_credentials", **({"scope": self.scope} if self.scope else {}), **self.form}
        return OAuth2ClientCredentials(secrets, url, extra, timeout=http.timeout, http=http)


class SigV4(Spec):
    """AWS Signature V4 by botocore; secrets access_key_id, secret_access_key[, session_token]."""

    kind: Literal["sigv4"] = "sigv4"
    service: str
    region_field: str = "region"

    def runtime(self, secrets: Any, config: Any, http: Any, template_ctx: dict[str, Any]) -> Any:
        return SigV4Signer(secrets, self, getattr(config, self.region_field))


class SessionLogin(Spec):
    """POST credentials to a login path, read a session token, send it in a header."""

    kind: Literal["session"] = "session"
    path: str
    form: dict[str, str]  # templates over secrets, e.g. {"username": "{username}"}
    token: str  # dotted path of the token in the JSON answer
    header: str = "Authorization"
    template: str = "Bearer {session}"
    lifetime_seconds: int = 3000

    def runtime(self, secrets: Any, config: Any, http: Any, template_ctx: dict[str, Any]) -> Any:
        return SessionAuth(secrets, self, config.root, http)


AuthSpec = Union[HeaderAuth, BasicAuth, OAuth2, SigV4, SessionLogin]


# -------------------------------------------------------------------------------- runtimes
class TemplateHeader:
    """HeaderAuth at run time: re-reads the store on refresh()."""

    def __init__(self, secrets: Any, spec: HeaderAuth):
        self.secrets, self.spec = secrets, spec
        self.fields = tuple(sorted(template_fields(spec.template)))
        self._refresh = False

    def apply(self, headers: dict[str, str]) -> None:
        values = {k: v.get_secret_value() for k, v in self.secrets.get(self.fields, self._refresh).items()}
        self._refresh = False
        headers[self.spec.header] = self.spec.template.format(**values)

    def refresh(self) -> None:
        self._refresh = True


class Basic:
    def __init__(self, secrets: Any, spec: BasicAuth):
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


class SessionAuth:
    """SessionLogin at run time: one session per connector and base URL, shared by the process."""

    _sessions: ClassVar[dict[str, tuple[str, float]]] = {}
    _lock = threading.Lock()

    def __init__(self, secrets: Any, spec: SessionLogin, root: str, http: Any):
        self.secrets, self.spec, self.root, self.http = secrets, spec, root, http
        self.fields = tuple(sorted(template_fields(spec.form)))
        self._key = f"{secrets.connector_name}|{root}"

    def _login(self, refresh: bool) -> tuple[str, float]:
        from nexus_sync.http import post_credentials

        values = {k: v.get_secret_value() for k, v in self.secrets.get(self.fields, refresh).items()}
        what = f"connector {self.secrets.connector_name!r}: session login {self.spec.path}"
        resp = post_credentials(self.http, self.root + self.spec.path, data=fill(self.spec.form, values),
                                timeout=self.http.timeout, what=what)
        try:
            token = _dig(orjson.loads(resp.content), self.spec.token, required=False)
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


class SigV4Signer:
    """botocore signs the prepared request; the connector calls sign(...) before sending."""

    def __init__(self, secrets: Any, spec: SigV4, region: str):
        self.secrets, self.spec, self.region = secrets, spec, region
        self._refresh = False

    def apply(self, headers: dict[str, str]) -> None:
        pass  # signing needs the whole request: see sign()

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        s = self.secrets.get(("access_key_id", "secret_access_key"), self._refresh)
        self._refresh = False
        try:
            token = self.secrets.get(("session_token",))["session_token"].get_secret_value()
        except ConfigError:
            token = None
        creds = Credentials(s["access_key_id"].get_secret_value(), s["secret_access_key"].get_secret_value(), token)
        aws = AWSRequest(method=method, url=url, data=body or b"", headers=headers)
        SigV4Auth(creds, self.spec.service, self.region).add_auth(aws)
        return dict(aws.headers.items())

    def refresh(self) -> None:
        self._refresh = True

