"""What every Salesforce connector does besides its declaration (the users here, the login history in
connectors/salesforce_logins): its `api_version` checked (a segment of every path), and the org's API usage
read off every answer - `Sforce-Limit-Info: api-usage=25/15000` (plus `per-app-api-usage=17/250(appName=...)`
where app limits apply).

The allocation is a rolling 24 h one: waiting seconds does not help, so nothing slows down here; the usage is
kept on the connector (`api_usage`) and logged, a warning once it crosses WARN_AT of the allocation. Past it,
Salesforce answers 403 REQUEST_LIMIT_EXCEEDED, each declaration's throttle code."""
from __future__ import annotations

import logging
import re
from typing import Any

import requests

from connectors.base import Context
from nexus_sync.errors import ConfigError

log = logging.getLogger(__name__)

WARN_AT = 0.8
_VERSION = re.compile(r"v[0-9]{2,3}\.[0-9]")
_USAGE = re.compile(r"(?:^|[\s,;])api-usage=(\d+)/(\d+)")


def api_usage(header: str | None) -> tuple[int, int] | None:
    """(used, allocation) from a Sforce-Limit-Info value; None where it names none."""
    match = _USAGE.search(header or "")
    if match is None:
        return None
    used, limit = int(match.group(1)), int(match.group(2))
    return (used, limit) if limit > 0 else None


class SalesforceOrg:
    """Mixed in before a declared Salesforce connector."""

    api_usage: tuple[int, int] | None = None
    ctx: Any

    def __init__(self, ctx: Context):
        version = getattr(ctx.config, "api_version", "")
        if not _VERSION.fullmatch(version):
            raise ConfigError(f"connector {ctx.name!r}: api_version {version!r} is not of the form v59.0")
        super().__init__(ctx)  # type: ignore[call-arg]  # the declared connector's

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        resp: requests.Response = super().request(method, url, **kwargs)  # type: ignore[misc]
        usage = api_usage(resp.headers.get("Sforce-Limit-Info"))
        if usage is not None:
            was_near, self.api_usage = _near(self.api_usage), usage
            near = _near(usage)
            level = logging.WARNING if near and not was_near else logging.DEBUG  # warn once per crossing
            log.log(level, "connector %r: Salesforce API usage %d/%d (%.0f%%)%s", self.ctx.name, *usage,
                    100.0 * usage[0] / usage[1], ": near the org's daily allocation" if near else "")
        return resp


def _near(usage: tuple[int, int] | None) -> bool:
    return usage is not None and usage[0] >= WARN_AT * usage[1]
