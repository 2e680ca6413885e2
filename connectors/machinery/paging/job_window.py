"""A job that searches a time window (ArcSight Logger's `start_time` / `end_time`): "{window_start}" and
"{window_end}" (ISO-8601 ms Z) in its create request. The windows run from the saved cursor (a full sync: the
`start_time` config, else `history_days` back) to now minus `lag_seconds` (events still arriving), fixed when
the sync's first page is fetched. A job whose result count reaches the vendor's cap (`cap`, config `job_cap`)
holds only part of its window: it is closed and its window halved and searched again, so no event is ever
skipped; each window read to its end moves the cursor to its end (Page.cursor).

State: "window": [start_ms, end_ms, until_ms] beside the job's own state."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import Field

from connectors.base import Page
from connectors.machinery import times
from connectors.machinery.paging import State
from connectors.machinery.templates import Spec
from nexus_sync.errors import VendorDataError

if TYPE_CHECKING:
    from connectors.machinery.connector import DeclaredConnector
    from connectors.machinery.paging.job import JobPaging

TEMPLATES = ("window_start", "window_end")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class WindowFull(Exception):
    """The job's result count reached the cap: it holds only part of its window (handled in page())."""


class JobWindow(Spec):
    cap: int = Field(10_000, gt=0)  # results one job holds at most (the vendor's limit)
    lag_seconds: float = Field(60.0, ge=0)
    history_days: int = Field(30, gt=0)  # a full sync without `start_time`

    def config_fields(self) -> dict[str, Any]:
        return {"start_time": (str, ""), "job_cap": (int | None, Field(None, gt=0))}

    def cap_of(self, conn: DeclaredConnector) -> int:
        return getattr(conn.config, "job_cap", None) or self.cap


def page(job: JobPaging, spec: JobWindow, conn: DeclaredConnector, ctx: dict[str, Any],
         state: State | None) -> Page:
    """One page of the window's job; a full job is closed and its window halved (in this task); after a
    window's last page, the next window starts on the next page."""
    own = {k: v for k, v in (state or {}).items() if k != "window"}
    window = (state or {}).get("window") or _first(spec, conn, ctx)
    while True:
        try:
            result = job.page(conn, {**ctx, **_templates(window)}, own or None)
            break
        except WindowFull:  # closed by job.page; nothing of it was read
            window, own = _halved(conn, window), {}
    if result.next is not None:
        return replace(result, next={**result.next, "window": window})
    _, end, until = window
    cursor = times.iso_ms(_at(end))
    return replace(result, next={"window": [end, until, until]} if end < until else None, cursor=cursor)


def _first(spec: JobWindow, conn: DeclaredConnector, ctx: dict[str, Any]) -> list[int]:
    now = datetime.now(UTC)
    start = times.sync_start(conn, ctx.get("since"), now, timedelta(days=spec.history_days))
    until = max(_ms(now - timedelta(seconds=spec.lag_seconds)), _ms(start))
    return [_ms(start), until, until]


def _halved(conn: DeclaredConnector, window: list[int]) -> list[int]:
    start, end, until = window
    if end - start <= 1:
        raise VendorDataError(f"connector {conn.ctx.name!r}: one millisecond at {times.iso_ms(_at(start))} holds "
                              "more events than one search returns (the cap): they cannot all be read")
    return [start, start + (end - start) // 2, until]


def _templates(window: list[int]) -> dict[str, str]:
    return {"window_start": times.iso_ms(_at(window[0])), "window_end": times.iso_ms(_at(window[1]))}


def _ms(at: datetime) -> int:
    return (at - EPOCH) // timedelta(milliseconds=1)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
