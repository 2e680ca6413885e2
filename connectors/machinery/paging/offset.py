"""Offset/limit paging: stop on a short page, or once the declared total is reached."""
from __future__ import annotations

from typing import Any, Literal

import requests

from connectors.machinery.paging import PagingSpec, State, VendorUrl, count_at, put
from connectors.machinery.request import RequestDict


class OffsetPaging(PagingSpec):
    kind: Literal["offset"] = "offset"
    offset_param: str = "offset"
    limit_param: str = "limit"
    where: Literal["params", "body"] = "params"
    total: str | None = None  # dotted path of the total count, when the vendor gives one
    start: int = 0

    def first(self, req: RequestDict, size: int) -> RequestDict:
        put(req, self.where, self.limit_param, size)
        put(req, self.where, self.offset_param, self.start)
        return req

    def apply(self, req: RequestDict, state: State, size: int) -> RequestDict:
        self.first(req, size)
        put(req, self.where, self.offset_param, state["offset"])
        return req

    def next(self, state: State | None, resp: requests.Response, body: Any, records: list[Any], size: int,
             vendor_url: VendorUrl) -> State | None:
        offset = (state or {}).get("offset", self.start) + len(records)
        total = count_at(body, self.total)
        if not records or len(records) < size or (total is not None and offset - self.start >= total):
            return None
        return {"offset": offset}

    def total_of(self, resp: requests.Response, body: Any) -> int | None:
        return count_at(body, self.total)
