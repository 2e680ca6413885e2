"""Lacework's alert search pages by time window: each window is a `POST /api/v2/Alerts/search` with a
`timeFilter`, its further pages `GET paging.urls.nextPage` (an absolute, opaque URL, checked to be on the
connector's own origin). The page state names the window (start, end, where the sync stops) and the next URL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from connectors import cursors
from connectors.base import Page
from connectors.machinery import DeclaredConnector
from nexus_sync.errors import ConfigError
from nexus_sync.http import dig

MAX_WINDOW_DAYS = 7
DEFAULT_HISTORY = timedelta(days=90)
SEARCH = "/api/v2/Alerts/search"


def stamp(at: datetime) -> str:
    """Lacework's time layout: ISO-8601 with milliseconds, Z."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _begin(conn: DeclaredConnector, since: str | None, now: datetime) -> datetime:
    if since:
        return cursors.instant(since, "iso")
    configured = str(getattr(conn.config, "start_time", "") or "")
    if not configured:
        return now - DEFAULT_HISTORY
    try:
        return cursors.instant(cursors.canonical(configured, "iso"), "iso")
    except ValueError:
        raise ConfigError(f"connector {conn.ctx.name!r}: start_time {configured[:40]!r} is not an ISO-8601 "
                          "time") from None


def first_window(conn: DeclaredConnector, since: str | None) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    start = min(_begin(conn, since, now), now)
    return _window(conn, start, now)


def _window(conn: DeclaredConnector, start: datetime, stop: datetime) -> dict[str, Any]:
    days = int(getattr(conn.config, "window_days", MAX_WINDOW_DAYS))
    if not 1 <= days <= MAX_WINDOW_DAYS:
        raise ConfigError(f"connector {conn.ctx.name!r}: window_days must be 1..{MAX_WINDOW_DAYS}")
    end = min(start + timedelta(days=days), stop)
    return {"start": stamp(start), "end": stamp(end), "stop": stamp(stop)}


def fetch_page(conn: DeclaredConnector, state: dict[str, Any] | None, since: str | None) -> Page:
    window = state or first_window(conn, since)
    if window.get("url"):
        resp = conn.request("GET", conn.vendor_url(window["url"]))
    else:
        body = {"timeFilter": {"startTime": window["start"], "endTime": window["end"]}}
        resp = conn.request("POST", conn.url(SEARCH), json=body)
    answer = conn.decode(resp)
    records = conn.records_of(answer)
    link = dig(answer, "paging.urls.nextPage")
    if isinstance(link, str) and link and records:
        return Page(records, {**window, "url": conn.vendor_url(link, resp.url)})
    end, stop = (cursors.instant(window[k], "iso") for k in ("end", "stop"))
    return Page(records, _window(conn, end, stop) if end < stop else None)
