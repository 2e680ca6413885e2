"""The Activity Log's required window: every listing asks `eventTimestamp ge '<start>' and eventTimestamp le
'<end>'` (the only filter form the API takes, and it takes none without it), pages by `nextLink`.

The window is fixed on the first page and kept in the page state: end = now; start = the saved cursor less
`overlap_minutes`, or `lookback_days` back for a first sync; never before the API's 90-day retention (less a
margin for clock skew). Events become queryable at submissionTimestamp, which can lag eventTimestamp: an event
submitted late with a time before the cursor is still inside the next window's overlap, and one fetched twice
is one row (its id is the vendor's eventDataId: the pipeline's dedup makes it UNCHANGED). An event later than
the overlap is missed: widen overlap_minutes where that matters. A nextLink without the window (never seen from
ARM, which repeats the query) gets the window added, so no request is ever sent without one."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from connectors import cursors
from connectors.base import Page
from connectors.machinery import DeclaredConnector, NextUrlPaging, Request

API_VERSION = "2015-04-01"
RETENTION_DAYS = 90  # the API keeps 90 days
OVERLAP_MINUTES = 30
SKEW = timedelta(minutes=10)  # our clock against Azure's: never ask for a start the API would call too old
FILTER = "eventTimestamp ge '{window_start}' and eventTimestamp le '{window_end}'"
# every top-level field but `claims` (the caller's token claims: PII, vendor-apis-2.md §30 quirk 4)
SELECT = ("authorization,caller,category,correlationId,description,eventDataId,eventName,eventTimestamp,"
          "httpRequest,id,level,operationId,operationName,properties,resourceGroupName,resourceId,"
          "resourceProviderName,resourceType,status,subStatus,submissionTimestamp,subscriptionId,tenantId")
REQUEST = Request(path="/subscriptions/{subscription}/providers/microsoft.insights/eventtypes/management/values",
                  params={"api-version": API_VERSION, "$filter": FILTER, "$select": SELECT})
PAGING = NextUrlPaging(next_path="nextLink")  # ARM's link repeats api-version, $filter, $select; adds $skiptoken


def _text(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")  # whole seconds: the start rounds down, the end is "now"


def window(since: str | None, lookback_days: int, overlap_minutes: int, now: datetime) -> tuple[str, str]:
    """(start, end) of a listing's window as the filter's ISO texts."""
    oldest = now - timedelta(days=RETENTION_DAYS) + SKEW
    if since is None:
        start = now - timedelta(days=max(1, min(int(lookback_days), RETENTION_DAYS)))
    else:
        start = cursors.instant(since, "iso") - timedelta(minutes=max(0, int(overlap_minutes)))
    return _text(max(start, oldest)), _text(now)


def _windowed(url: str, win: list[str]) -> str:
    """The vendor's next link, with the window's filter added if the link lost it."""
    if "$filter" in parse_qs(urlsplit(url).query):
        return url
    extra = {"$filter": FILTER.format(window_start=win[0], window_end=win[1])}
    return f"{url}{'&' if '?' in url else '?'}{urlencode(extra, safe='$')}"


def fetch_page(conn: DeclaredConnector, state: dict[str, Any] | None, since: str | None) -> Page:
    cfg = conn.config
    if state:
        win, own = list(state["window"]), {"url": _windowed(state["url"], state["window"])}
    else:
        win = list(window(since, getattr(cfg, "lookback_days"), getattr(cfg, "overlap_minutes"),
                          datetime.now(timezone.utc)))
        own = None
    ctx = {**conn.template_context(since), "window_start": win[0], "window_end": win[1]}
    page = PAGING.fetch(conn, REQUEST, ctx, own)
    if page.next is None:
        return page
    return Page(page.records, {**page.next, "window": win}, page.total)
