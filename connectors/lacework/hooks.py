"""Lacework's alert search pages by time window: each window is a `POST /api/v2/Alerts/search` with a
`timeFilter`, its further pages `GET paging.urls.nextPage` (an absolute, opaque URL, checked to be on the
connector's own origin). The page state names the window (start, end, where the sync stops) and the next URL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from connectors import cursors
from connectors.base import Page
from connectors.machinery import DeclaredConnector
from connectors.machinery.times import iso_ms, sync_start
from nexus_sync.errors import ConfigError
from nexus_sync.http import dig

MAX_WINDOW_DAYS = 7
DEFAULT_HISTORY = timedelta(days=90)
SEARCH = "/api/v2/Alerts/search"


def first_window(conn: DeclaredConnector, since: str | None) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    start = min(sync_start(conn, since, now, DEFAULT_HISTORY), now)
    return _window(conn, start, now)


def _window(conn: DeclaredConnector, start: datetime, stop: datetime) -> dict[str, Any]:
    days = int(getattr(conn.config, "window_days", MAX_WINDOW_DAYS))
    if not 1 <= days <= MAX_WINDOW_DAYS:
        raise ConfigError(f"connector {conn.ctx.name!r}: window_days must be 1..{MAX_WINDOW_DAYS}")
    end = min(start + timedelta(days=days), stop)
    return {"start": iso_ms(start), "end": iso_ms(end), "stop": iso_ms(stop)}


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
