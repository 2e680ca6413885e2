"""Logging in to a session vendor, shared by the process-wide session (auth/session.py) and the owned one
(auth/owned_session.py): POST the credentials, read the token from the JSON answer or the session cookie."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from connectors.base import SecretsProvider
from connectors.machinery.templates import fill, template_fields
from nexus_sync.credentials import remember_sent
from nexus_sync.errors import AuthError, ConfigError, RateLimited, TransientError, VendorDataError
from nexus_sync.http import HttpClient, dig, error_text, post_credentials
from nexus_sync.origin import origin_of
from nexus_sync.transport import exchange

if TYPE_CHECKING:
    from connectors.machinery.auth.session import SessionLogin

TWO_FACTOR = b"Two factor authentication"  # Cybereason's login page asking for a TOTP code: API users have none


def login(secrets: SecretsProvider, spec: SessionLogin, root: str, http: HttpClient, refresh: bool) -> str:
    """Log in once: the session token (registered with the redactor)."""
    values = login_secrets(secrets, spec, refresh)
    what = f"connector {secrets.connector_name!r}: session login {spec.path}"
    if spec.cookie is not None:
        token: Any = cookie_login(http, root + spec.path, fill(spec.form, values), spec, what)
    else:
        json_body = fill(spec.json_body, values) if spec.json_body is not None else None
        resp = post_credentials(http, root + spec.path, timeout=http.timeout, what=what,
                                data=fill(spec.form, values) if json_body is None else None,
                                json_body=json_body, headers=fill(spec.headers, values))
        try:
            token = _dig_dotted(orjson.loads(resp.content), str(spec.token))
        except ValueError:
            raise VendorDataError(f"{what}: the answer is not JSON") from None
    if not isinstance(token, (str, int)) or not str(token):
        raise VendorDataError(f"{what}: no session token at {spec.token or spec.cookie!r}")
    remember_sent(str(token))
    return str(token)


def login_secrets(secrets: SecretsProvider, spec: SessionLogin, refresh: bool = False) -> dict[str, str]:
    """The secrets the login sends (its form, JSON body and headers' templates), by name."""
    fields = tuple(sorted(template_fields([spec.form, spec.json_body or {}, spec.headers])))
    return {k: v.get_secret_value() for k, v in secrets.get(fields, refresh).items()}


def _dig_dotted(body: Any, path: str) -> Any:
    """`dig`, where a key may itself hold dots (ArcSight's "log.loginResponse" / "log.return"): at each level
    the longest run of steps that is a key wins."""
    steps = path.split(".")
    while steps:
        if not isinstance(body, dict):
            return dig(body, ".".join(steps))
        for n in range(len(steps), 0, -1):
            key = ".".join(steps[:n])
            if key in body:
                body, steps = body[key], steps[n:]
                break
        else:
            return None
    return body


def cookie_login(http: HttpClient, url: str, form: dict[str, str], spec: SessionLogin, what: str) -> str | None:
    """POST the login form, follow nothing, and read the session cookie. A redirect is the vendor's answer
    either way: to a Location naming one of `spec.refused` it is a refusal (wrong credentials, an expired
    password), else the login worked. The cookie goes to this client's session jar only as a header we set:
    the jar is emptied so that no stale cookie rides along after a new login or a logout."""
    resp = exchange(http.session, "POST", url, http.limits(), headers={}, follow=False, data=form)
    status = resp.status_code
    location = resp.headers.get("Location", "") if 300 <= status < 400 else ""
    token = resp.cookies.get(spec.cookie or "")
    http.session.cookies.clear()
    if any(word in location.lower() for word in spec.refused):
        word = next(w for w in spec.refused if w in location.lower())
        raise AuthError(f"{what} refused (redirected to the login page with {word!r})")
    if status == 429:
        raise RateLimited(f"{what}: {error_text(resp)}", 1.0)
    if status in (400, 401, 403):
        raise AuthError(f"{what} refused: {error_text(resp)}")
    if status == 404:
        raise ConfigError(f"{what}: {error_text(resp)} (check the URL)")
    if status >= 400:
        raise TransientError(f"{what}: {error_text(resp)}")
    if status < 300 and TWO_FACTOR in resp.content:
        raise AuthError(f"{what}: the user needs two-factor authentication; use an API user (no 2FA)")
    if not token:
        target = f" (redirected to {origin_of(location)})" if location else ""
        raise AuthError(f"{what}: no {spec.cookie} cookie in the answer{target}")
    return str(token)
