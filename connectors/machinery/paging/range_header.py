"""Paging by the HTTP `Range` request header (IBM QRadar): `Range: items=x-y` (0-based, inclusive) asks for a
slice; the answer says `Content-Range: items x-y/total`, or `items */total` past the end. A 416 (range not
satisfiable: the listing shrank under us) is the end as well, never a failure. Stop on an empty or short
page, or once the slice reaches the total."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

import requests

from connectors.base import Page
from connectors.machinery.paging import PagingSpec, State, VendorUrl
from connectors.machinery.request import Request, RequestDict

if TYPE_CHECKING:
    from connectors.machinery.connector import DeclaredConnector

_CONTENT_RANGE = re.compile(r"^\s*(?P<unit>[A-Za-z]+)\s+(?:(?P<first>\d+)-(?P<last>\d+)|\*)\s*/\s*(?P<total>\d+|\*)\s*$")
NOT_SATISFIABLE = 416


def content_range(resp: requests.Response, unit: str) -> tuple[int | None, int | None]:
    """(last item index served, total) from `Content-Range: <unit> x-y/total`; None where it says none."""
    match = _CONTENT_RANGE.match(resp.headers.get("Content-Range") or "")
    if match is None or match["unit"].lower() != unit.lower():
        return None, None
    last = int(match["last"]) if match["last"] is not None else None
    total = int(match["total"]) if match["total"] != "*" else None
    return last, total


class RangeHeaderPaging(PagingSpec):
    kind: Literal["range_header"] = "range_header"
    header: str = "Range"
    unit: str = "items"

    def describe(self) -> str:
        return f"range_header ({self.header}: {self.unit}=x-y)"

    def _range(self, req: RequestDict, start: int, size: int) -> RequestDict:
        req["headers"] = {**(req.get("headers") or {}), self.header: f"{self.unit}={start}-{start + size - 1}"}
        return req

    def first(self, req: RequestDict, size: int) -> RequestDict:
        return self._range(req, 0, size)

    def apply(self, req: RequestDict, state: State, size: int) -> RequestDict:
        return self._range(req, int(state["start"]), size)

    def fetch(self, conn: DeclaredConnector, request: Request | None, ctx: dict[str, Any],
              state: State | None) -> Page:
        assert request is not None  # check() refused a declaration without one
        size = conn.config.page_size
        req = request.build(conn.config.root, ctx)
        req = self.apply(req, state, size) if state else self.first(req, size)
        kwargs: dict[str, Any] = {"params": req.get("params") or None, "headers": req["headers"],
                                  "accept": (NOT_SATISFIABLE,)}
        if req.get("json") is not None:
            kwargs["json"] = req["json"]
        resp = conn.request(req["method"], req["url"], **kwargs)
        if resp.status_code == NOT_SATISFIABLE:  # past the end: nothing more to read
            return Page([], None, content_range(resp, self.unit)[1])
        body = conn.decode(resp)
        records = conn.records_of(body)
        return Page(records, self.next(state, resp, body, records, size, conn.vendor_url), self.total_of(resp, body))

    def next(self, state: State | None, resp: requests.Response, body: Any, records: list[Any], size: int,
             vendor_url: VendorUrl) -> State | None:
        start = int((state or {}).get("start", 0))
        last, total = content_range(resp, self.unit)
        following = last + 1 if last is not None else start + len(records)
        if not records or len(records) < size or (total is not None and following >= total):
            return None
        return {"start": following}

    def total_of(self, resp: requests.Response, body: Any) -> int | None:
        return content_range(resp, self.unit)[1]
