"""Cybereason's Malop inbox has no paging: `POST /rest/detection/inbox {"startTime", "endTime"}` (epoch ms, both
ends inclusive, as the SDK's get_malops sends them) answers every Malop of the window. So the listing slides a
window of `window_hours` from the start — the cursor (the newest `lastUpdateTime` seen, read again from its own
millisecond), else `start_time`, else 30 days back — to the time the sync began, one window a page."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from connectors import cursors
from connectors.base import Page
from connectors.machinery import DeclaredConnector, times
from nexus_sync.errors import ConfigError

INBOX = "/rest/detection/inbox"
DEFAULT_HISTORY = timedelta(days=30)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _window_ms(conn: DeclaredConnector) -> int:
    hours = int(getattr(conn.config, "window_hours", 168))
    if hours < 1:
        raise ConfigError(f"connector {conn.ctx.name!r}: window_hours must be at least 1")
    return hours * 3_600_000


def first_state(conn: DeclaredConnector, since: str | None) -> dict[str, int]:
    now = datetime.now(timezone.utc)
    since = conn.saved_cursor(since)
    begin = cursors.instant(since, "epoch_ms") if since else times.sync_start(conn, None, now, DEFAULT_HISTORY)
    return {"start": min(_ms(begin), _ms(now)), "stop": _ms(now)}


def fetch_page(conn: DeclaredConnector, state: dict[str, Any] | None, since: str | None) -> Page:
    window = _window_ms(conn)
    state = state or first_state(conn, since)
    start, stop = int(state["start"]), int(state["stop"])
    end = min(start + window - 1, stop)
    answer = conn.decode(conn.request("POST", conn.url(INBOX), json={"startTime": start, "endTime": end}))
    return Page(conn.records_of(answer), {"start": end + 1, "stop": stop} if end < stop else None)
