"""An opaque token in the answer's body (or a response header), sent back as a parameter (or body field)."""
from __future__ import annotations

from typing import Any, Literal

import requests

from connectors.machinery.paging import PagingSpec, State, VendorUrl, count_at, put
from connectors.machinery.request import RequestDict
from nexus_sync.http import dig


class TokenPaging(PagingSpec):
    kind: Literal["token"] = "token"
    token: str  # dotted path in the response (a header name with token_in="header")
    token_in: Literal["body", "header"] = "body"  # OneLogin: the `After-Cursor` response header
    param: str
    where: Literal["params", "body"] = "params"
    size_param: str | None = None
    total: str | None = None  # dotted path of the total: stop once that many records were seen

    def first(self, req: RequestDict, size: int) -> RequestDict:
        if self.size_param:
            put(req, self.where, self.size_param, size)
        return req

    def apply(self, req: RequestDict, state: State, size: int) -> RequestDict:
        self.first(req, size)
        put(req, self.where, self.param, state["token"])
        return req

    def next(self, state: State | None, resp: requests.Response, body: Any, records: list[Any], size: int,
             vendor_url: VendorUrl) -> State | None:
        token = resp.headers.get(self.token) if self.token_in == "header" else dig(body, self.token)
        seen = (state or {}).get("seen", 0) + len(records)
        total = count_at(body, self.total)
        if not token or not records or (total is not None and seen >= total):
            return None
        return {"token": token, "seen": seen}

    def total_of(self, resp: requests.Response, body: Any) -> int | None:
        return count_at(body, self.total)
