"""The next page's URL: in the body (`@odata.nextLink`) or the Link header (rel="next"); relative links
resolve against the page that named them, a link to any other origin fails the page."""
from __future__ import annotations

from typing import Any, Literal

import requests

from connectors.machinery.paging import PagingSpec, State, VendorUrl, count_in_header
from connectors.machinery.request import RequestDict
from nexus_sync.errors import VendorDataError
from nexus_sync.http import dig


class NextUrlPaging(PagingSpec):
    kind: Literal["next_url"] = "next_url"
    # key in the body ("@odata.nextLink"), else a dotted path (PingOne "_links.next.href"); None = the Link header
    next_path: str | None = None
    size_param: str | None = None
    total_header: str | None = None  # response header of the listing's record count (ServiceNow X-Total-Count)

    def first(self, req: RequestDict, size: int) -> RequestDict:
        if self.size_param:
            req["params"] = {**req["params"], self.size_param: size}
        return req

    def apply(self, req: RequestDict, state: State, size: int) -> RequestDict:
        return {**req, "url": state["url"], "params": {}, "json": None}

    def next(self, state: State | None, resp: requests.Response, body: Any, records: list[Any], size: int,
             vendor_url: VendorUrl) -> State | None:
        if self.next_path is None:
            url = resp.links.get("next", {}).get("url")
        else:
            url = body.get(self.next_path, dig(body, self.next_path)) if isinstance(body, dict) else None
        if not url or not records:
            return None
        if not isinstance(url, str):
            raise VendorDataError(f"next link at {self.next_path!r} is not a string")
        return {"url": vendor_url(url)}

    def total_of(self, resp: requests.Response, body: Any) -> int | None:
        return count_in_header(resp, self.total_header)
