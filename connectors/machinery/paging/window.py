"""A from/to window in the JSON body (Cortex XDR's `search_from`/`search_to` inside `request_data`): the
window is [from, from + page size); stop on a short page or once the declared total is reached."""
from __future__ import annotations

from typing import Any, Literal

import requests

from connectors.machinery.paging import PagingSpec, State, VendorUrl, count_at
from connectors.machinery.request import RequestDict
from connectors.machinery.templates import merge


class WindowPaging(PagingSpec):
    kind: Literal["window"] = "window"
    into: str = ""  # dotted path of the body object that holds the window ("" = the body itself)
    from_field: str = "search_from"
    to_field: str = "search_to"
    total: str | None = None  # dotted path of the total count, when the vendor gives one

    def _window(self, req: RequestDict, start: int, size: int) -> RequestDict:
        window: dict[str, Any] = {self.from_field: start, self.to_field: start + size}
        for key in reversed(self.into.split(".") if self.into else []):
            window = {key: window}
        req["json"] = merge(req.get("json") or {}, window)
        return req

    def first(self, req: RequestDict, size: int) -> RequestDict:
        return self._window(req, 0, size)

    def apply(self, req: RequestDict, state: State, size: int) -> RequestDict:
        return self._window(req, int(state["offset"]), size)

    def next(self, state: State | None, resp: requests.Response, body: Any, records: list[Any], size: int,
             vendor_url: VendorUrl) -> State | None:
        offset = (state or {}).get("offset", 0) + len(records)
        total = count_at(body, self.total)
        if not records or len(records) < size or (total is not None and offset >= total):
            return None
        return {"offset": offset}

    def total_of(self, resp: requests.Response, body: Any) -> int | None:
        return count_at(body, self.total)
