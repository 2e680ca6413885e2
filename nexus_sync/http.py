"""The one HTTP client of the connectors: origin, deadline and size bounds, status → failure class, vendor
rate-limit dialects (headers, or a declared throttle inside a 2xx body), and error text from declared fields
only (never a raw vendor body)."""
from __future__ import annotations

import base64
import binascii
import email.utils
import json
import logging
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import Any, Callable
from urllib.parse import urljoin

import orjson
import requests

from nexus_sync.credentials import redact, remember_sent
from nexus_sync.errors import (
    Action,
    AuthError,
    ConfigError,
    RateLimited,
    Rule,
    TransientError,
    VendorDataError,
    rule_for_status,
)
from nexus_sync.origin import check_origin, origin_of, resolve_vendor_url
from nexus_sync.transport import MB, Limits, exchange, new_session, path_of

__all__ = ["BodyError", "BodyThrottle", "HttpClient", "origin_of", "post_credentials", "resolve_vendor_url", "wait_from_headers"]

log = logging.getLogger(__name__)

# a 429 whose wait is at most this is waited out in place; longer waits defer the task (countdown)
INLINE_WAIT_MAX = 5.0
INLINE_RATE_LIMIT_TRIES = 5
MIN_WAIT = 0.5  # `Retry-After: 0` must not become a hot loop
RESET_DELTA_BELOW = 1e9  # an X-RateLimit-Reset number below this is seconds from now, above it an epoch
MESSAGE_MAX, CODE_MAX = 160, 64  # a vendor's declared error message / code, in our errors


def wait_from_headers(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait according to the vendor's own rate-limit headers, whichever dialect it speaks."""
    now = time.time() if now is None else now
    h = {k.lower(): v for k, v in headers.items()}
    if "retry-after" in h:
        value = h["retry-after"].strip()
        if value.isdigit():
            return float(value)
        parsed = email.utils.parsedate_to_datetime(value)  # HTTP-date form
        return max(0.0, parsed.timestamp() - now)
    if "x-ratelimit-retryafter" in h:  # CrowdStrike: epoch seconds
        return max(0.0, float(h["x-ratelimit-retryafter"]) - now)
    if "x-rate-limit-reset" in h:  # Okta: epoch seconds
        return max(0.0, float(h["x-rate-limit-reset"]) - now)
    if "x-ratelimit-reset" in h:  # ISO timestamp (Jira), epoch, or seconds until the reset (OneLogin, Datadog)
        value = h["x-ratelimit-reset"].strip()
        if value.replace(".", "", 1).isdigit():
            # an epoch below 1e9 would be before 2001-09: such a number is a count of seconds, not an instant
            return float(value) if float(value) < RESET_DELTA_BELOW else max(0.0, float(value) - now)
        return max(0.0, datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() - now)
    if "x-ratelimit-towait-sec" in h:  # Qualys
        return float(h["x-ratelimit-towait-sec"])
    return None


@dataclass(frozen=True)
class BodyThrottle:
    """A rate limit the vendor answers inside a body: a 2xx one (a GraphQL `errors[]` entry) or an error whose
    status alone does not say so (Salesforce's 403 REQUEST_LIMIT_EXCEEDED): the code at `code_path` is one of
    `codes`, and the wait it names is the number at `wait_path`, `unit` seconds each (0.001 = ms).
    Waited out like a 429's Retry-After (DESIGN §3: never drop the page)."""

    code_path: str
    codes: tuple[str, ...]
    wait_path: str | None = None
    unit: float = 1.0
    decode: Callable[[bytes], Any] | None = None  # the vendor's answers when not JSON (AWS IAM's XML errors)

    def match(self, content: bytes) -> tuple[bool, float | None]:
        """(throttled, the wait in seconds it names, None if none readable)."""
        if not any(code.encode() in content for code in self.codes):  # the cheap test: most answers are data
            return False, None
        try:
            body = self.decode(content) if self.decode else orjson.loads(content)
        except (ValueError, VendorDataError):  # not the vendor's format: no throttle said in it
            return False, None
        if dig(body, self.code_path) not in self.codes:
            return False, None
        value = dig(body, self.wait_path)
        try:
            wait = float(value) * self.unit if value is not None and not isinstance(value, bool) else None
        except (TypeError, ValueError):
            wait = None
        return True, wait if wait is not None and math.isfinite(wait) and wait >= 0 else None


@dataclass(frozen=True)
class BodyError:
    """A failure the vendor answers with a 2xx status (Exabeam's `{"errors": {...}}`, ArcSight Logger's
    `"status": "error"`): the value at `path` is one of `statuses`' keys (or, with `default` set, anything there
    but null/false/0/""/[]/{}). It counts as the status it maps to and goes through the error table like that
    status would (401 refresh once, 429 wait, 5xx retry, another 4xx fail). Values compare as JSON text:
    false -> "false", 3 -> "3"."""

    path: str
    statuses: dict[str, int]
    default: int | None = None  # the status of any other value there; None: only the listed values fail
    message_path: str | None = None  # the vendor's text of the failure, quoted in the error (redacted, short)
    decode: Callable[[bytes], Any] | None = None

    def match(self, content: bytes) -> int | None:
        """The status this 2xx body counts as, None when it is a success."""
        if self.path.rsplit(".", 1)[-1].encode() not in content:
            return None  # the cheap test: most answers are data without the field
        try:
            body = self.decode(content) if self.decode else orjson.loads(content)
        except (ValueError, VendorDataError):  # not the vendor's format: the paging reports it
            return None
        value = dig(body, self.path)
        if value is None:
            return None
        if not isinstance(value, (dict, list)):
            text = value if isinstance(value, str) else orjson.dumps(value).decode()
            if text in self.statuses:
                return self.statuses[text]
        return self.default if value not in (False, "", [], {}) else None


def _settings_default(name: str, fallback: float) -> float:
    from nexus_sync.config import ConfigError as SettingsError
    from nexus_sync.config import get_settings

    try:
        return float(getattr(get_settings(), name))
    except SettingsError:
        return fallback


class HttpClient:
    """requests.Session with per-request auth, 429 waits, one credential refresh on 401, and the bounds of
    DESIGN §10: the connector's own origin only, same-origin redirects only, a deadline and a size cap."""

    def __init__(self, timeout: float = 30.0, sleep: Callable[[float], None] = time.sleep):
        self.session = new_session()
        self.timeout = timeout  # per socket read
        self.deadline_seconds = _settings_default("http_deadline_seconds", 300.0)  # wall clock, per request
        self.max_response_mb = _settings_default("http_max_response_mb", 256.0)  # decoded, per response
        self.sleep = sleep
        self.rate_limit_waits = 0.0
        self.label = "?"  # the connector, in metrics and messages
        self.origin: str | None = None  # scheme://host:port every request must stay on (origin_of(base_url))
        self.error_paths: tuple[str | None, str | None] | None = None  # default of request(error_paths=)
        self.throttle: BodyThrottle | None = None  # the vendor's rate limit inside a 2xx body, if it has one
        # the vendor's "credentials refused" codes where its status does not say so (AWS JSON services: 400
        # UnrecognizedClientException): matched like a throttle's codes, answered like a 401 (refresh once)
        self.auth_codes: BodyThrottle | None = None
        self.body_error: BodyError | None = None  # the vendor's failures answered with a 2xx, if declared
        self.error_decode: Callable[[bytes], Any] | None = None  # error bodies that are not JSON (XML), if any
        self.bucket: Any = None  # nexus_sync.ratelimit.TokenBucket shared by every worker of the connector
        self.endpoint_buckets: list[tuple[str, Any]] = []  # (path prefix, bucket) where a vendor limits per endpoint

    def limits(self) -> Limits:
        return Limits(self.timeout, self.deadline_seconds, int(self.max_response_mb * MB), self.label)

    def request(self, method: str, url: str, *, auth: Any = None, rate_limit_statuses: tuple[int, ...] = (429,),
                errors: dict[int, Rule] | None = None,
                error_paths: tuple[str | None, str | None] | None = None, accept: tuple[int, ...] = (),
                **kwargs: Any) -> requests.Response:
        """Send with auth, inside the shared rate budget; an error status becomes what the error table
        says (nexus_sync.errors): wait, refresh credentials once, or raise the failure class.

        auth: object with .apply(headers) and .refresh() (see connectors.machinery.auth).
        rate_limit_statuses / errors: the vendor's extensions of the table (Qualys answers 409).
        error_paths: dotted paths (list indexes allowed: "errors.0.message") of the vendor's error code and
        message in a JSON error body; without them an error says the status and its standard phrase only.
        accept: error statuses this request takes as answers (a `Range` past the end: 416), for its caller to read.
        A success whose body is the vendor's throttle (`self.throttle`, declared) is a rate limit like a 429,
        waited as long as its body says."""
        if self.origin is not None:
            check_origin(url, self.origin, self.label)
        overrides = {s: Rule(Action.WAIT, "rate_limited") for s in rate_limit_statuses if s != 429}
        overrides.update(errors or {})
        base_headers = dict(kwargs.pop("headers", None) or {})
        refreshed, limited = False, 0
        while True:
            self._acquire(url)
            headers = dict(base_headers)
            if auth is not None:
                auth.apply(headers)
                remember_credential_headers(base_headers, headers)
            resp = exchange(self.session, method, url, self.limits(), headers=headers, **kwargs)
            rule = None if resp.status_code in accept else rule_for_status(resp.status_code, overrides)
            said = self.body_error.match(resp.content) if rule is None and self.body_error else None
            if said is not None:  # a failure answered with a 2xx: the error table, as the status it counts as
                rule = rule_for_status(said, overrides)
            if rule is not None and rule.action is Action.FAIL and self.auth_codes and \
                    self.auth_codes.match(resp.content)[0]:
                rule = Rule(Action.REFRESH, "auth")
            in_body, body_wait = False, None
            if rule is None or rule.action is not Action.WAIT:
                # a success or an error, unless its body is the vendor's declared "slow down" (GraphQL errors[]
                # on a 200, Salesforce's REQUEST_LIMIT_EXCEEDED on a 403)
                in_body, body_wait = self.throttle.match(resp.content) if self.throttle else (False, None)
                if in_body:
                    rule = Rule(Action.WAIT, "rate_limited")
                elif rule is None:
                    return resp
            if rule.action is Action.WAIT:
                wait = body_wait if body_wait is not None else wait_from_headers(resp.headers)
                wait = max(MIN_WAIT, 2.0 ** limited if wait is None else wait)
                limited += 1
                if wait <= INLINE_WAIT_MAX and limited <= INLINE_RATE_LIMIT_TRIES:
                    self._wait(url, wait)
                    continue
                code = (self.throttle.code_path, None) if in_body and self.throttle else None
                raise rule.error(f"{method} {path_of(url)}: {error_text(resp, code)} rate limited", wait)
            if rule.action is Action.REFRESH and auth is not None and not refreshed:
                refreshed = True
                auth.refresh()
                continue
            if said is not None and self.body_error:
                error_paths = (self.body_error.path, self.body_error.message_path)
            raise self._error(rule, method, url, resp, error_paths or self.error_paths, said)

    def _acquire(self, url: str) -> None:
        if self.bucket is not None:
            self.bucket.acquire(sleep=self.sleep, inline_max=INLINE_WAIT_MAX)
        for prefix, bucket in self.endpoint_buckets:
            if prefix in path_of(url):
                bucket.acquire(sleep=self.sleep, inline_max=INLINE_WAIT_MAX)

    def _wait(self, url: str, wait: float) -> None:
        from nexus_sync.metrics import RATE_LIMIT_WAIT

        log.info("rate limited by %s, waiting %.1fs", path_of(url), wait)
        self.rate_limit_waits += wait
        RATE_LIMIT_WAIT.labels(self.label).inc(wait)
        self.sleep(wait)

    def _error(self, rule: Rule, method: str, url: str, resp: requests.Response,
               error_paths: tuple[str | None, str | None] | None, said: int | None = None) -> Exception:
        what = f"{method} {path_of(url)}: {error_text(resp, error_paths, self.error_decode)}"
        if said is not None:
            what += f" (an error in the body, answered as {said})"
        if resp.status_code == 404:
            return ConfigError(f"{what} (check base_url)")
        return rule.error(what)

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        resp = self.request(method, url, **kwargs)
        return parse_json(resp.content, f"{method} {path_of(url)}")


def parse_json(content: bytes, what: str) -> Any:
    """orjson (~3× the stdlib on big pages); a bad or too deeply nested answer is a VendorDataError that says
    so by its size, never by its text."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):
            raise VendorDataError(f"{what}: response nests deeper than 1024 levels ({len(content)} bytes)") from None
    body = _lenient_json(content)  # one stray byte or lone surrogate must not cost the page
    if body is None:
        raise VendorDataError(f"{what}: response is not valid JSON ({len(content)} bytes)")
    log.warning("%s: response held invalid UTF-8 or unpaired surrogates, replaced by U+FFFD", what)
    return body


def _lenient_json(content: bytes) -> Any:
    """JSON whose only fault is its text (invalid UTF-8, unpaired surrogates): parsed with those characters
    replaced by U+FFFD; None when it is not JSON at all."""
    from nexus_sync.sanitize import replace_lone_surrogates

    try:
        body = json.loads(content.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return None
    holder = [body]  # the answer itself may be a string
    replace_lone_surrogates(holder)
    return holder[0]


# ----------------------------------------------------------------------------- error text (finding 2)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def error_text(resp: requests.Response, error_paths: tuple[str | None, str | None] | None = None,
               decode: Callable[[bytes], Any] | None = None) -> str:
    """'<status> <standard phrase> [<vendor code>]: <vendor message>' — code and message only from the declared
    paths of the JSON body (or of what `decode` makes of a non-JSON one: AWS IAM's XML), single-line, redacted,
    bounded. The vendor's own reason phrase is not used either."""
    status = resp.status_code
    try:
        text = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        text = str(status)
    code_path, message_path = error_paths or (None, None)
    if not (code_path or message_path):
        return text
    try:
        body = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        try:
            body = decode(resp.content) if decode else None
        except (ValueError, VendorDataError):  # neither JSON nor the vendor's own format: the status says it
            body = None
        if body is None:
            return text
    code, message = _clean(dig(body, code_path), CODE_MAX), _clean(dig(body, message_path), MESSAGE_MAX)
    return text + (f" [{code}]" if code else "") + (f": {message}" if message else "")


def dig(body: Any, path: str | None, required: bool = False) -> Any:
    """body at a dotted path ("errors.0.message": a numeric step indexes a list). A missing step: None, or
    KeyError(path) when required. The one walker of vendor answers."""
    for step in (path or "").split("."):
        if isinstance(body, dict) and step in body:
            body = body[step]
        elif isinstance(body, list) and step.lstrip("-").isdigit() and -len(body) <= int(step) < len(body):
            body = body[int(step)]
        else:
            if required:
                raise KeyError(path)
            return None
    return body


def _clean(value: Any, limit: int) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    text = redact(" ".join(_CONTROL.sub(" ", str(value)).split()))  # redact before cutting: never half a secret
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----------------------------------------------------------------------------- credentials sent (finding 2)
# headers an auth object may set that carry no secret (registering them would redact ordinary words)
_NOT_SECRET = {"accept", "accept-encoding", "content-type", "content-length", "date", "host", "user-agent",
               "x-requested-with", "x-amz-date", "x-amz-content-sha256"}
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9._-]*) +(\S.*)")
_KEY_VALUE = re.compile(r"[A-Za-z_][\w.-]*\s*=(.*)")


def remember_credential_headers(before: dict[str, str], after: dict[str, str]) -> None:
    """Register with the redactor every header value auth.apply set or changed, and its derived parts."""
    for name, value in after.items():
        if before.get(name) != value and name.lower() not in _NOT_SECRET and isinstance(value, str):
            remember_sent(*credential_forms(value))


def credential_forms(value: str) -> list[str]:
    """A header value and the secrets inside it: the value of "Scheme value" (Bearer, SSWS, ApiToken …), for
    Basic the base64 part, the decoded "user:password" and the password, and each v of "k=v;k2=v2"."""
    value = value.strip()
    match = _SCHEME.fullmatch(value)
    if match and match.group(1).upper().startswith("AWS4-"):
        # SigV4: the signature changes per request and proves nothing alone; the key id is what identifies
        key_id = re.search(r"Credential=([^/,\s]+)", value)
        return [key_id.group(1)] if key_id else []
    forms = [value]
    inner = match.group(2).strip() if match else value
    if match:
        forms += [inner, *_pair_forms(inner)]  # Basic, or an ApiKey that is base64("id:key") (Elastic)
    parts = [_KEY_VALUE.fullmatch(p.strip()) for p in inner.split(";") if p.strip()]
    if parts and all(parts):
        forms += [m.group(1).strip().strip('"') for m in parts if m]
    return forms


def _pair_forms(b64: str) -> list[str]:
    """"user:password" and the password, when b64 is base64 of such a printable pair."""
    try:
        pair = base64.b64decode(b64, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return []
    if ":" not in pair or not pair.isprintable():
        return []
    return [pair, pair.partition(":")[2]]


# ----------------------------------------------------------------------------- credential calls (finding 4)
def post_credentials(client: "HttpClient | requests.Session | None", url: str, *, data: dict[str, str] | None,
                     timeout: float | None = None, what: str = "token request", connector: str | None = None,
                     error_paths: tuple[str | None, str | None] = ("error", None),
                     headers: dict[str, str] | None = None, json_body: Any = None) -> requests.Response:
    """POST credentials (an OAuth token grant, a session login) and return the 2xx answer, body read within
    the client's bounds. `data` is a form body, `json_body` a JSON one; `headers` may carry the credentials
    (HTTP Basic client authentication: the caller registers them with the redactor). No redirect is
    followed: a 3xx is an AuthError naming where it pointed. The URL is
    configured, not vendor-supplied, so it may be off the connector's origin (Entra's token host).
    Errors: status, standard phrase and the code at error_paths (RFC 6749's `error` by default) only."""
    if isinstance(client, HttpClient):
        session, limits = client.session, client.limits()
    else:  # without a session of its own, a fresh one: no cookie of another connector's login rides along
        session = client if isinstance(client, requests.Session) else new_session()
        limits = Limits(30.0, _settings_default("http_deadline_seconds", 300.0),
                        int(_settings_default("http_max_response_mb", 256.0) * MB))
    if timeout is not None:
        limits.timeout = timeout
    limits.label = connector or limits.label
    where = f"{f'connector {limits.label!r}: ' if limits.label != '?' else ''}{what} to {path_of(url)}"
    try:
        body: dict[str, Any] = {"data": data} if json_body is None else {"json": json_body}
        resp = exchange(session, "POST", url, limits, headers=dict(headers or {}), follow=False, **body)
    finally:
        if client is None:
            session.close()
    status = resp.status_code
    if status < 300:
        return resp
    if 300 <= status < 400:
        target = origin_of(urljoin(url, resp.headers.get("Location", "")))
        raise AuthError(f"{where} was redirected to {target}: not followed")
    text = error_text(resp, error_paths)
    if status == 429:
        raise RateLimited(f"{where}: {text}", max(MIN_WAIT, wait_from_headers(resp.headers) or 1.0))
    if status in (400, 401, 403):
        raise AuthError(f"{where} refused: {text}")
    if status == 404:
        raise ConfigError(f"{where}: {text} (check the URL)")
    raise TransientError(f"{where}: {text}")
