"""Page-number paging: stop on a short page, or after the declared number of pages."""
from __future__ import annotations

from typing import Any, Literal

import requests

from connectors.machinery.paging import PagingSpec, State, VendorUrl, count_at, put
from connectors.machinery.request import RequestDict
from nexus_sync.http import dig


class PagePaging(PagingSpec):
    kind: Literal["page"] = "page"
    page_param: str = "page"
    size_param: str = "size"
    where: Literal["params", "body"] = "params"
    start: int = 1
    total_pages: str | None = None
    total: str | None = None  # dotted path of the record count of the whole listing, where the vendor gives one

    def first(self, req: RequestDict, size: int) -> RequestDict:
        put(req, self.where, self.size_param, size)
        put(req, self.where, self.page_param, self.start)
        return req

    def apply(self, req: RequestDict, state: State, size: int) -> RequestDict:
        self.first(req, size)
        put(req, self.where, self.page_param, state["page"])
        return req

    def next(self, state: State | None, resp: requests.Response, body: Any, records: list[Any], size: int,
             vendor_url: VendorUrl) -> State | None:
        page = (state or {}).get("page", self.start)
        pages = dig(body, self.total_pages) if self.total_pages else None
        if not records or len(records) < size or (pages is not None and page - self.start + 1 >= int(pages)):
            return None
        return {"page": page + 1}

    def total_of(self, resp: requests.Response, body: Any) -> int | None:
        return count_at(body, self.total)
