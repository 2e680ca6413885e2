"""Elasticsearch/OpenSearch: a point in time (PIT), a sorted search, `search_after` = the last hit's sort.

The PIT is the listing's state on the cluster (it pins segments until its keep_alive runs out): opened for
page 1, closed after the last page and when page 1 fails (its retry opens a new one); a later page's failure
keeps it for the retry, and `release` closes it once fetching has failed for good (DELETE /_pit)."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import requests

from connectors.base import Page
from connectors.machinery.paging import PagingSpec, State, VendorUrl
from connectors.machinery.request import Request, RequestDict
from connectors.machinery.templates import fill
from nexus_sync.errors import SyncError, VendorDataError

if TYPE_CHECKING:
    from connectors.machinery.connector import DeclaredConnector

log = logging.getLogger(__name__)


class SearchAfterPaging(PagingSpec):
    kind: Literal["search_after"] = "search_after"
    pit_path: str  # e.g. "/{index}/_pit"
    close_path: str = "/_pit"
    keep_alive: str = "1m"
    sort: list[dict[str, Any]]

    def fetch(self, conn: DeclaredConnector, request: Request | None, ctx: dict[str, Any],
              state: State | None) -> Page:
        opened = state is None
        if state is None:
            state = self.open(conn, ctx)
        try:
            page = super().fetch(conn, request, ctx, state)
        except BaseException:
            if opened:
                self.release(conn, state)
            raise
        if page.next is None:
            # the id sent with the last search: a newer one in its answer differs only when a shard's context
            # moved during that search, and such a context expires after keep_alive
            self.release(conn, state)
        return page

    def open(self, conn: DeclaredConnector, ctx: dict[str, Any]) -> State:
        """Page 1's state: a new point in time over the declared index."""
        answer = conn.request_json("POST", conn.config.root + fill(self.pit_path, ctx),
                                   params={"keep_alive": self.keep_alive})
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            raise VendorDataError(f"{conn.decl.type}: the point-in-time answer has no id")
        return {"pit": answer["id"], "after": None}

    def release(self, conn: DeclaredConnector, state: State | None) -> None:
        """Close the state's point in time. Best effort: a PIT that is gone already (404) or a cluster that does
        not answer is logged, never raised — the records fetched stand, and the PIT expires by itself."""
        pit = (state or {}).get("pit")
        if not (isinstance(pit, str) and pit):
            return
        try:
            conn.request_json("DELETE", conn.url(self.close_path), json={"id": pit})
        except SyncError as exc:
            log.warning("%s: closing the point in time failed (%s); it expires after %s", conn.ctx.name,
                        type(exc).__name__, self.keep_alive)

    def first(self, req: RequestDict, size: int) -> RequestDict:
        req["json"] = {**(req.get("json") or {}), "size": size, "sort": self.sort}
        return req

    def apply(self, req: RequestDict, state: State, size: int) -> RequestDict:
        self.first(req, size)
        req["json"]["pit"] = {"id": state["pit"], "keep_alive": self.keep_alive}
        if state.get("after") is not None:
            req["json"]["search_after"] = state["after"]
        return req

    def next(self, state: State | None, resp: requests.Response, body: Any, records: list[Any], size: int,
             vendor_url: VendorUrl) -> State | None:
        pit = body.get("pit_id") or (state or {}).get("pit")  # always the newest id the cluster gave
        if not records or len(records) < size:
            return None
        return {"pit": pit, "after": records[-1]["sort"]}
