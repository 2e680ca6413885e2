"""The one HTTP client of the connectors: timeouts, status → failure class, vendor rate-limit dialects."""
from __future__ import annotations

import email.utils
import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable

import orjson
import requests

from nexus_sync.errors import Action, ConfigError, Rule, TransientError, VendorDataError, rule_for_status

log = logging.getLogger(__name__)

# a 429 whose wait is at most this is waited out in place; longer waits defer the task (countdown)
INLINE_WAIT_MAX = 5.0
INLINE_RATE_LIMIT_TRIES = 5
MIN_WAIT = 0.5  # `Retry-After: 0` must not become a hot loop


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
    if "x-ratelimit-reset" in h:  # ISO timestamp (Jira) or epoch
        value = h["x-ratelimit-reset"].strip()
        if value.replace(".", "", 1).isdigit():
            return max(0.0, float(value) - now)
        return max(0.0, datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() - now)
    if "x-ratelimit-towait-sec" in h:  # Qualys
        return float(h["x-ratelimit-towait-sec"])
    return None


class HttpClient:
    """requests.Session with per-request auth, 429 waits and one credential refresh on 401."""

    def __init__(self, timeout: float = 30.0, sleep: Callable[[float], None] = time.sleep):
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "nexus-sync/0.1"
        self.timeout = timeout
        self.sleep = sleep
        self.rate_limit_waits = 0.0
        self.label = "?"  # the connector, in metrics
        self.bucket: Any = None  # nexus_sync.ratelimit.TokenBucket shared by every worker of the connector
        self.endpoint_buckets: list[tuple[str, Any]] = []  # (path prefix, bucket) where a vendor limits per endpoint

    def request(self, method: str, url: str, *, auth: Any = None, rate_limit_statuses: tuple[int, ...] = (429,),
                errors: dict[int, Rule] | None = None, **kwargs: Any) -> requests.Response:
        """Send with auth, inside the shared rate budget; an error status becomes what the error table
        says (nexus_sync.errors): wait, refresh credentials once, or raise the failure class.

        auth: object with .apply(headers) and .refresh() (see connectors.auth).
        rate_limit_statuses / errors: the vendor's extensions of the table (Qualys answers 409)."""
        overrides = {s: Rule(Action.WAIT, "rate_limited") for s in rate_limit_statuses if s != 429}
        overrides.update(errors or {})
        refreshed = False
        limited = 0
        while True:
            if self.bucket is not None:
                self.bucket.acquire(sleep=self.sleep, inline_max=INLINE_WAIT_MAX)
            for prefix, bucket in self.endpoint_buckets:
                if prefix in url.split("?", 1)[0]:
                    bucket.acquire(sleep=self.sleep, inline_max=INLINE_WAIT_MAX)
            headers = dict(kwargs.pop("headers", None) or {})
            if auth is not None:
                auth.apply(headers)
            try:
                resp = self.session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
            except requests.exceptions.InvalidURL as exc:
                raise ConfigError(f"bad URL {url}: {exc}") from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                    requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
                raise TransientError(f"{method} {_path(url)}: {type(exc).__name__}") from None
            kwargs["headers"] = headers
            rule = rule_for_status(resp.status_code, overrides)
            if rule is None:
                return resp
            what = f"{method} {_path(url)}: {resp.status_code}"
            if rule.action is Action.WAIT:
                wait = wait_from_headers(resp.headers)
                wait = max(MIN_WAIT, 2.0 ** limited if wait is None else wait)
                limited += 1
                if wait <= INLINE_WAIT_MAX and limited <= INLINE_RATE_LIMIT_TRIES:
                    log.info("rate limited by %s, waiting %.1fs", _path(url), wait)
                    self.rate_limit_waits += wait
                    from nexus_sync.metrics import RATE_LIMIT_WAIT

                    RATE_LIMIT_WAIT.labels(self.label).inc(wait)
                    self.sleep(wait)
                    continue
                raise rule.error(f"{what} rate limited", wait)
            if rule.action is Action.REFRESH and auth is not None and not refreshed:
                refreshed = True
                auth.refresh()
                continue
            if resp.status_code == 404:
                raise ConfigError(f"{what} not found (check base_url)")
            raise rule.error(f"{what} {_brief(resp)}")

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        resp = self.request(method, url, **kwargs)
        try:
            return orjson.loads(resp.content)  # ~3× faster than the stdlib parser on big pages
        except ValueError:
            raise VendorDataError(f"{method} {_path(url)}: response is not valid JSON "
                                  f"({len(resp.content)} bytes)") from None


def _path(url: str) -> str:
    """URL without the query string: queries may carry filters; never log more than needed."""
    return url.split("?", 1)[0]


def _brief(resp: requests.Response) -> str:
    return resp.text[:200].replace("\n", " ")
