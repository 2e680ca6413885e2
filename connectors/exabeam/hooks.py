"""Exabeam's case search has no cursor: one `POST /threat-center/v1/search/cases` answers at most `limit` rows
(3,000 at most) of a `startTime`/`endTime` window, and says how many the window holds (`totalRows`). So the
listing slides a window from the start to now; a window whose `totalRows` is past what one answer holds is
split in half and read again (its rows are not kept), until every window fits."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from connectors import cursors
from connectors.base import Page
from connectors.machinery import DeclaredConnector, times
from nexus_sync.errors import ConfigError
from nexus_sync.http import dig

log = logging.getLogger(__name__)

SEARCH = "/threat-center/v1/search/cases"
DEFAULT_HISTORY = timedelta(days=30)
SMALLEST_WINDOW = timedelta(seconds=1)  # the request's times are whole seconds: no narrower window exists


def stamp(at: datetime) -> str:
    """Exabeam's request time layout: ISO-8601, whole seconds, Z."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _instant(text: str) -> datetime:
    return cursors.instant(cursors.canonical(text, "iso"), "iso")


def _window(conn: DeclaredConnector, start: datetime, stop: datetime) -> dict[str, str]:
    hours = int(getattr(conn.config, "window_hours", 168))
    if hours < 1:
        raise ConfigError(f"connector {conn.ctx.name!r}: window_hours must be at least 1")
    return {"start": stamp(start), "end": stamp(min(start + timedelta(hours=hours), stop)), "stop": stamp(stop)}


def fetch_page(conn: DeclaredConnector, state: dict[str, Any] | None, since: str | None) -> Page:
    if state is None:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        # the window is inclusive at its start: the mark's own second is read again (whole-second times)
        begin = times.sync_start(conn, since, now, DEFAULT_HISTORY).replace(microsecond=0)
        state = _window(conn, min(begin, now), now)
    start, end, stop = (_instant(state[k]) for k in ("start", "end", "stop"))
    limit = conn.config.page_size
    body = {"limit": limit, "startTime": state["start"], "endTime": state["end"], "fields": ["*"]}
    answer = conn.decode(conn.request("POST", conn.url(SEARCH), json=body))
    records = conn.records_of(answer)
    total = dig(answer, "totalRows")
    capped = isinstance(total, int) and not isinstance(total, bool) and total > len(records)
    if capped and end - start > SMALLEST_WINDOW:  # past the cap: the first half again, then the second
        middle = start + max(SMALLEST_WINDOW, (end - start) / 2)
        return Page([], {"start": stamp(start), "end": stamp(middle.replace(microsecond=0)), "stop": state["stop"]})
    if capped:
        log.warning("%s: %d cases in the one second %s, %d read (the search's cap)", conn.ctx.name, total,
                    state["start"], len(records))
    following = _window(conn, end, stop) if end < stop else None
    return Page(records, following)
