"""Fetching: one vendor page per call, staged in Redis for its batch (claim check); a vendor job that is not
ready yet stages nothing and is fetched again later with its state."""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Callable

import orjson

from connectors.base import Connector, Page
from nexus_sync import db, staging
from nexus_sync.credentials import redact
from nexus_sync.pipeline import known, seen
from nexus_sync.pipeline.ahead import advance
from nexus_sync.pipeline.completeness import endpoint_of, record_page
from nexus_sync.pipeline.context import Frontier, SyncContext, frontier, gc_paused, load, mark_progress, set_frontier
from nexus_sync.pipeline.ids import iso, utcnow
from nexus_sync.pipeline.ledger import batch_failed
from nexus_sync.pipeline.normalizing import NormalizedPage, add_known, stage_normalized

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fetched:
    """What to fetch next. `wait` set: the vendor's job is not ready, fetch this same batch again with `next`
    after `wait` seconds (nothing was staged). Else `next` is the next batch's state, None after the last page."""

    next: dict[str, Any] | None
    wait: float | None = None
    normalized: bool = False  # every record was known (pipeline.known): staged normalized, the chain starts at dedup

    @property
    def last(self) -> bool:
        return self.next is None and self.wait is None


def fetch(sync_hid: str, batch_no: int, state: dict[str, Any] | None, since: str | None,
          ahead: Callable[[dict[str, Any]], None] | None = None) -> Fetched:
    """Fetch one vendor page and stage it as batch `batch_no`. `ahead` sends the next page's fetch (its state):
    called once the answer is in, before the page is staged, and only by the first attempt to move the frontier
    past this batch (pipeline.ahead). Without it the caller sends the next fetch itself, after the staging."""
    ctx = load(sync_hid)
    connector = ctx.connector.instance()
    with gc_paused():
        try:
            page = connector.fetch_page(state, since)
        finally:  # the task's vendor session ends here, also when the page failed (Connector.close)
            connector.close()
        onward = page.next if page.wait is None else None
        if onward is not None and ahead is not None and advance(sync_hid, Frontier(batch_no + 1, onward, since)):
            ahead(onward)
        received, normalized = len(page.records), False
        if page.wait is None:
            normalized = _stage(ctx, sync_hid, batch_no, page, connector)
        # the records go while the GC still waits: the collection due when it resumes finds ~10^5 fewer objects
        page = replace(page, records=[])
    if page.wait is not None:  # the same batch again, later: where fetching goes on is this job's state
        set_frontier(sync_hid, Frontier(batch_no, page.next, since))
    elif page.next is None:  # every page fetched (staged: a resume has nothing left to fetch)
        set_frontier(sync_hid, Frontier(None, None, since))
    elif ahead is None:
        advance(sync_hid, Frontier(batch_no + 1, page.next, since))
    _record_pages(ctx, batch_no, last=page.next is None and page.wait is None,
                  fetched=None if page.wait is not None else (endpoint_of(ctx.vendor, state), received, page.total,
                                                               since))
    mark_progress(sync_hid, ahead=page.wait or 0.0)  # a waiting job is alive: not stalled before it is due
    return Fetched(page.next, page.wait, normalized)


def _stage(ctx: SyncContext, sync_hid: str, batch_no: int, page: Page, connector: Connector) -> bool:
    """The page as the batch's "raw" part: the records the dedup cache does not know as the vendor's JSON
    (`at`: their indexes in the page when some are known), the known ones as their cache entries
    (pipeline.known). A page of known records only is staged normalized (its "norm" part, as normalize would
    make it of that "raw" part): returns True then, and its batch goes on at dedup."""
    part = known.split(ctx.vendor, ctx.records, page.records,
                       lambda sids: seen.read(ctx.connector.tenant_id, ctx.source, sids))
    raw: dict[str, Any] = {"records": orjson.Fragment(b"[" + b",".join(part.blobs) + b"]"),
                           "fetched_at": iso(utcnow()), "known": part.known}
    if part.known["i"]:
        raw["at"] = part.at
    if page.cursor is not None:  # the listing's own cursor (a Graph delta link), saved as this batch's cursor
        raw["cursor"] = connector.canonical_cursor(page.cursor)
    if part.nuls_replaced:
        raw["nuls_replaced"] = part.nuls_replaced
        log.warning("sync %s batch %d: %d vendor strings held NUL bytes, replaced by U+FFFD",
                    sync_hid, batch_no, part.nuls_replaced)
    if part.known["i"] and not part.blobs:
        page_of_known = NormalizedPage(ctx.vendor.kind)
        add_known(page_of_known, part.known)
        stage_normalized(sync_hid, batch_no, page_of_known, raw)
        return True
    staging.put_batch(sync_hid, batch_no, {"raw": orjson.dumps(raw)})
    return False


def _record_pages(ctx: SyncContext, batch_no: int, last: bool,
                  fetched: tuple[str, int, int | None, str | None] | None) -> None:
    """The last page fixes the sync's page count; any other reopens a sync that ended on a failed page (a
    replayed fetch): its end is unknown again. A staged page (`fetched`: its endpoint, records received, the
    vendor's stated total, the sync's since) is recorded for completeness, in the same transaction."""
    runs = db.sync_runs.c
    with db.get_engine().begin() as conn:
        if fetched is not None:
            endpoint, received, total, since = fetched
            record_page(conn, ctx.sync_hid, batch_no, endpoint, received, total, since)
        if last:
            conn.execute(db.sync_runs.update().where(runs.sync_history_id == ctx.sync_hid)
                         .values(pages_total=batch_no + 1, fetch_error=None))
            return
        reopened = conn.execute(db.sync_runs.update().where(
            runs.sync_history_id == ctx.sync_hid, runs.fetch_error.is_not(None))
            .values(pages_total=None, fetch_error=None)).rowcount
        if reopened:
            conn.execute(db.sync_history.update().where(db.sync_history.c.id == ctx.sync_hid)
                         .values(status="RUNNING"))


def fetch_failed(sync_hid: str, batch_no: int, error: str) -> bool:
    """Fetching page batch_no failed for good: later pages are unknown, so the sync ends here — unless its
    successor was sent already (pipeline.ahead: the page's answer came, its staging failed): then only this
    batch failed, and fetching goes on."""
    front = frontier(sync_hid)
    if front is not None and (front.batch is None or front.batch > batch_no):
        return batch_failed(sync_hid, batch_no, f"fetch failed: {error}")
    ctx = load(sync_hid)
    _release_vendor_state(ctx, sync_hid)
    with db.get_engine().begin() as conn:
        conn.execute(db.sync_runs.update().where(db.sync_runs.c.sync_history_id == ctx.sync_hid)
                     .values(pages_total=batch_no + 1, fetch_error=redact(error)[:1000]))
    return batch_failed(sync_hid, batch_no, f"fetch failed: {error}")


def _release_vendor_state(ctx: SyncContext, sync_hid: str) -> None:
    """Fetching ended for good before the last page: the connector gives back what the vendor holds for the
    listing (Connector.release). Best effort: the vendor lets it expire anyway."""
    try:
        kept = frontier(sync_hid)
        if kept is not None and kept.state:
            connector = ctx.connector.instance()
            try:
                connector.release(kept.state)
            finally:
                connector.close()
    except Exception as exc:  # never let the clean-up hide the failure being recorded
        log.warning("sync %s: releasing the vendor's listing state failed: %s", sync_hid, type(exc).__name__)
