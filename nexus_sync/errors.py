"""Failure classes of DESIGN §3. The base task reads these to decide: retry, wait, refresh, or fail."""
from __future__ import annotations


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


class VendorDataError(SyncError):
    """The vendor answered something we cannot read (malformed page)."""

    failure_type = "data"
    retryable = True


class StagedBatchMissing(SyncError):
    """A staged batch expired or was lost (e.g. Redis restarted without persistence)."""

    failure_type = "transient"
