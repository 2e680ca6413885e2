"""Elastic's listing holds a point in time on the cluster: opened for page 1, closed after the last page, and
closed when page 1 fails (its retry opens a new one); a later page's failure keeps it for the retry, and
Connector.release closes it once fetching has failed for good (vendor-apis.md §13: close with DELETE /_pit)."""
from __future__ import annotations

import logging
from typing import Any

from connectors.base import Page
from nexus_sync.errors import SyncError

log = logging.getLogger(__name__)


def fetch_page(conn: Any, state: dict[str, Any] | None, since: str | None) -> Page:
    paging = conn.decl.paging
    opened = state is None
    if opened:
        state = paging.open(conn)
    try:
        page = conn.fetch_declared(state, since)
    except BaseException:
        if opened:
            release(conn, state)
        raise
    if page.next is None:
        # the id sent with the last search: a newer one in its answer differs only when a shard's context
        # moved during that search, and such a context expires after keep_alive (1 m)
        release(conn, state)
    return page


def release(conn: Any, state: dict[str, Any] | None) -> None:
    """Close the listing's point in time. Best effort: a PIT that is gone already (404) or a cluster that does
    not answer is logged, never raised — the records fetched stand, and the PIT expires by itself."""
    try:
        conn.decl.paging.close(conn, state)
    except SyncError as exc:
        log.warning("%s: closing the point in time failed (%s); it expires after %s", conn.ctx.name,
                    type(exc).__name__, conn.decl.paging.keep_alive)
