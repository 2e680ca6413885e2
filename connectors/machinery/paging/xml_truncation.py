"""Qualys: a WARNING with a URL to the next batch while more records exist (same origin only)."""
from __future__ import annotations

from typing import Any, Literal

import requests

from connectors.machinery.paging import PagingSpec, State, VendorUrl
from connectors.machinery.request import RequestDict
from nexus_sync.errors import VendorDataError
from nexus_sync.http import dig


class XmlTruncationPaging(PagingSpec):
    kind: Literal["xml_truncation"] = "xml_truncation"
    next_url: str  # dotted path in the parsed XML, e.g. "RESPONSE.WARNING.URL"

    def apply(self, req: RequestDict, state: State, size: int) -> RequestDict:
        return {**req, "url": state["url"], "params": {}, "json": None}

    def next(self, state: State | None, resp: requests.Response, body: Any, records: list[Any], size: int,
             vendor_url: VendorUrl) -> State | None:
        url = dig(body, self.next_url)
        if not url or not records:
            return None
        if not isinstance(url, str):
            raise VendorDataError(f"truncation URL at {self.next_url!r} is not text")
        return {"url": vendor_url(url.strip())}
