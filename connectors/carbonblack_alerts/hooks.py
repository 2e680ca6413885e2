"""Carbon Black alerts v7 page by `start`/`rows` inside one fixed `time_range` per sync: the range starts at
the saved cursor (the last `backend_update_timestamp` seen; `start_time` or 30 days back on a full sync) and
ends 60 s before now, as Elastic's integration does, so alerts indexed late are read by the next sync rather
than missed (vendor-apis-2.md §20). Every page of a sync keeps the same range (it rides in the page state)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.base import Page
from connectors.machinery import DeclaredConnector
from connectors.machinery.paging import count_at
from connectors.machinery.times import iso_ms, sync_start

SEARCH = "/api/alerts/v7/orgs/{org_key}/alerts/_search"
LAG = timedelta(seconds=60)
DEFAULT_HISTORY = timedelta(days=30)
FIRST = 1  # `start` counts from 1, as the SDK sends it (the API's own base is unconfirmed)


def time_range(conn: DeclaredConnector, since: str | None, now: datetime | None = None) -> dict[str, str] | None:
    """The sync's range, or None when it would be empty (a cursor within the last minute)."""
    end = (now or datetime.now(timezone.utc)) - LAG
    start = sync_start(conn, since, end + LAG, DEFAULT_HISTORY)
    return {"start": iso_ms(start), "end": iso_ms(end)} if start < end else None


def fetch_page(conn: DeclaredConnector, state: dict[str, Any] | None, since: str | None) -> Page:
    window = state["range"] if state else time_range(conn, since)
    if window is None:
        return Page([], None)
    offset, size = (state or {}).get("start", FIRST), conn.config.page_size
    body = {"time_range": window, "criteria": {}, "rows": size, "start": offset,
            "sort": [{"field": "backend_update_timestamp", "order": "ASC"}]}
    answer = conn.decode(conn.request("POST", conn.url(SEARCH), json=body))
    records = conn.records_of(answer)
    total = count_at(answer, "num_found")
    after = offset + len(records)
    if not records or len(records) < size or (total is not None and after - FIRST >= total):
        return Page(records, None, total)
    return Page(records, {"range": window, "start": after}, total)
