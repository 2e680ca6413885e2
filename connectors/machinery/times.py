"""Time helpers for hooks that page by a time range of their own (Lacework, Carbon Black alerts, Exabeam):
the vendor's ISO-8601 layout to the millisecond, and where a sync starts (the cursor, else the configured
`start_time`, else a default history)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from connectors import cursors
from nexus_sync.errors import ConfigError

if TYPE_CHECKING:
    from connectors.machinery.connector import DeclaredConnector


def iso_ms(at: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` (milliseconds rounded down) of a UTC instant."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def sync_start(conn: DeclaredConnector, since: str | None, now: datetime, history: timedelta) -> datetime:
    """Where a sync's range starts: the saved (iso) cursor; on a full sync the connector's `start_time` config,
    or `history` before now without one. A start_time that is no time is a ConfigError naming the connector."""
    if since:
        return cursors.instant(since, "iso")
    configured = str(getattr(conn.config, "start_time", "") or "")
    if not configured:
        return now - history
    try:
        return cursors.instant(cursors.canonical(configured, "iso"), "iso")
    except ValueError:
        raise ConfigError(f"connector {conn.ctx.name!r}: start_time {configured[:40]!r} is not an ISO-8601 "
                          "time") from None
