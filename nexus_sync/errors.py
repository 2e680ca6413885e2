"""Failure classes of DESIGN §3. The base task reads these to decide: retry, wait, refresh, or fail."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class SyncError(Exception):
    failure_type = "system"
    retryable = False


class TransientError(SyncError):
    """Timeout, connection reset, 5xx: retry with exponential backoff."""

    failure_type = "transient"
    retryable = True


class RateLimited(TransientError):
    """The vendor said slow down; wait as long as it says, never drop the page."""

    failure_type = "rate_limited"

    def __init__(self, message: str, wait_seconds: float):
        super().__init__(message)
        self.wait_seconds = wait_seconds


class AuthError(SyncError):
    """401/403 after one credential refresh."""

    failure_type = "auth"


class ConfigError(SyncError):
    """Unknown connector, bad base URL, missing secret: fail fast, no retries."""

    failure_type = "config"


class ForeignOriginError(ConfigError):
    """A vendor-supplied URL (next link, truncation URL, redirect, job location) points outside the
    connector's own scheme://host:port: never followed, never sent credentials (DESIGN §10)."""

    failure_type = "security"


class VendorDataError(SyncError):
    """The vendor answered something we cannot read (malformed page)."""

    failure_type = "data"
    retryable = True


class AnswerTooLarge(VendorDataError):
    """A vendor answer past the decoded-size cap (NEXUS_HTTP_MAX_RESPONSE_MB): asking again gets the same."""

    retryable = False


class StagedBatchMissing(SyncError):
    """A staged batch expired or was lost (e.g. Redis restarted without persistence)."""

    failure_type = "transient"


# ----------------------------------------------------------------------------- the error table
class Action(str, Enum):
    RETRY = "retry"  # exponential backoff with jitter, max NEXUS_TASK_MAX_RETRIES
    WAIT = "rate_limited_wait"  # as long as the vendor says, then again; never drops the page
    REFRESH = "refresh_credentials_then_retry"  # re-read the store / new token, once
    FAIL = "fail"  # no retry: dead-letter, the sync reports it


@dataclass(frozen=True)
class Rule:
    action: Action
    failure_type: str  # transient | rate_limited | auth | config | data

    def error(self, message: str, wait: float | None = None) -> SyncError:
        """The exception the HTTP client raises for this rule."""
        if self.action is Action.WAIT:
            return RateLimited(message, wait or 1.0)
        cls = {"transient": TransientError, "auth": AuthError, "config": ConfigError,
               "data": VendorDataError}.get(self.failure_type, SyncError)
        exc = cls(message)
        if self.action is Action.FAIL and cls is VendorDataError:
            exc.retryable = False
        return exc


# HTTP status → rule. Connectors extend or override it per vendor (Declaration.errors), e.g. Qualys 409.
HTTP_RULES: dict[int, Rule] = {
    401: Rule(Action.REFRESH, "auth"),
    403: Rule(Action.REFRESH, "auth"),
    404: Rule(Action.FAIL, "config"),
    408: Rule(Action.RETRY, "transient"),
    409: Rule(Action.RETRY, "transient"),
    429: Rule(Action.WAIT, "rate_limited"),
}
DEFAULT_5XX = Rule(Action.RETRY, "transient")
DEFAULT_4XX = Rule(Action.FAIL, "data")

# exception → what the base task does with it
EXCEPTION_RULES: tuple[tuple[type[BaseException], Rule], ...] = (
    (RateLimited, Rule(Action.WAIT, "rate_limited")),
    (AuthError, Rule(Action.FAIL, "auth")),  # the client already refreshed once
    (ConfigError, Rule(Action.FAIL, "config")),
    (StagedBatchMissing, Rule(Action.FAIL, "transient")),  # needs a re-fetch, not a retry of this stage
    (TransientError, Rule(Action.RETRY, "transient")),
    (VendorDataError, Rule(Action.RETRY, "data")),  # malformed page: the vendor usually answers right next time
)
UNKNOWN = Rule(Action.RETRY, "system")  # database/broker hiccups (OperationalError, ...) retry


def rule_for_status(status: int, overrides: dict[int, Rule] | None = None) -> Rule | None:
    """None for a success; the rule of an error status (vendor overrides first)."""
    if overrides and status in overrides:
        return overrides[status]
    if status < 400:
        return None
    if status in HTTP_RULES:
        return HTTP_RULES[status]
    return DEFAULT_5XX if status >= 500 else DEFAULT_4XX


def rule_for_exception(exc: BaseException) -> Rule:
    if isinstance(exc, VendorDataError) and not getattr(exc, "retryable", True):
        return Rule(Action.FAIL, "data")
    for cls, rule in EXCEPTION_RULES:
        if isinstance(exc, cls):
            return rule
    return UNKNOWN
