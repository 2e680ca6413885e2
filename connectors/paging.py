"""Paging kinds of declared connectors, one class each: first(req) shapes page 1, apply(req, state) a later
page, next(...) reads an answer and returns the next page's JSON state (None after the last page).

A URL a vendor names (next link, truncation URL) reaches the state only through `vendor_url`, the
connector's check that it stays on the connector's own scheme://host:port (DESIGN §10)."""
from __future__ import annotations

from typing import Any, Callable, Literal, Union

import requests
from pydantic import Field

from connectors.base import _dig
from connectors.templates import Spec, merge, vendor_text
from nexus_sync.errors import VendorDataError

VendorUrl = Callable[[str], str]  # vendor URL → the same URL resolved on the connector's origin, or raise


class _Paging(Spec):
    def first(self, req: dict[str, Any], size: int) -> dict[str, Any]:
        return req

    def apply(self, req: dict[str, Any], state: dict[str, Any], size: int) -> dict[str, Any]:
        raise NotImplementedError

    def next(self, state: dict[str, Any] | None, resp: requests.Response, body: Any,
             records: list[Any], size: int, vendor_url: VendorUrl) -> dict[str, Any] | None:
        raise NotImplementedError


def _put(req: dict[str, Any], where: str, key: str, value: Any) -> None:
    if where == "body":
        req["json"] = {**(req.get("json") or {}), key: value}
    else:
        req["params"] = {**req["params"], key: value}


class OffsetPaging(_Paging):
    kind: Literal["offset"] = "offset"
    offset_param: str = "offset"
    limit_param: str = "limit"
    where: Literal["params", "body"] = "params"
    total: str | None = None  # dotted path of the total count, when the vendor gives one
    start: int = 0

    def first(self, req, size):
        _put(req, self.where, self.limit_param, size)
        _put(req, self.where, self.offset_param, self.start)
        return req

    def apply(self, req, state, size):
        self.first(req, size)
        _put(req, self.where, self.offset_param, state["offset"])
        return req

    def next(self, state, resp, body, records, size, vendor_url):
        offset = (state or {}).get("offset", self.start) + len(records)
        total = _dig(body, self.total, required=False) if self.total else None
        if not records or len(records) < size or (total is not None and offset - self.start >= int(total)):
            return None
        return {"offset": offset}


class PagePaging(_Paging):
    kind: Literal["page"] = "page"
    page_param: str = "page"
    size_param: str = "size"
    where: Literal["params", "body"] = "params"
    start: int = 1
    total_pages: str | None = None

    def first(self, req, size):
        _put(req, self.where, self.size_param, size)
        _put(req, self.where, self.page_param, self.start)
        return req

    def apply(self, req, state, size):
        self.first(req, size)
        _put(req, self.where, self.page_param, state["page"])
        return req

    def next(self, state, resp, body, records, size, vendor_url):
        page = (state or {}).get("page", self.start)
        pages = _dig(body, self.total_pages, required=False) if self.total_pages else None
        if not records or len(records) < size or (pages is not None and page - self.start + 1 >= int(pages)):
            return None
        return {"page": page + 1}


class TokenPaging(_Paging):
    """An opaque token in the response body, sent back as a parameter (or body field)."""

    kind: Literal["token"] = "token"
    token: str  # dotted path in the response
    param: str
    where: Literal["params", "body"] = "params"
    size_param: str | None = None
    total: str | None = None  # dotted path of the total: stop once that many records were seen

    def first(self, req, size):
        if self.size_param:
            _put(req, self.where, self.size_param, size)
        return req

    def apply(self, req, state, size):
        self.first(req, size)
        _put(req, self.where, self.param, state["token"])
        return req

    def next(self, state, resp, body, records, size, vendor_url):
        token = _dig(body, self.token, required=False)
        seen = (state or {}).get("seen", 0) + len(records)
        total = _dig(body, self.total, required=False) if self.total else None
        if not token or not records or (total is not None and seen >= int(total)):
            return None
        return {"token": token, "seen": seen}


class NextUrlPaging(_Paging):
    """The next page's URL: in the body (`@odata.nextLink`) or the Link header (rel="next"); relative links
    resolve against the base URL, a link to any other origin fails the page."""

    kind: Literal["next_url"] = "next_url"
    next_path: str | None = None  # key in the body (e.g. "@odata.nextLink"); None = the Link header
    size_param: str | None = None

    def first(self, req, size):
        if self.size_param:
            req["params"] = {**req["params"], self.size_param: size}
        return req

    def apply(self, req, state, size):
        return {**req, "url": state["url"], "params": {}, "json": None}

    def next(self, state, resp, body, records, size, vendor_url):
        if self.next_path is None:
            url = resp.links.get("next", {}).get("url")
        else:
            url = body.get(self.next_path) if isinstance(body, dict) else None
        if not url or not records:
            return None
        if not isinstance(url, str):
            raise VendorDataError(f"next link at {self.next_path!r} is not a string")
        return {"url": vendor_url(url)}


class GraphQLPaging(_Paging):
    """Relay-style connection: {nodes, pageInfo {hasNextPage, endCursor}} at `connection`."""

    kind: Literal["graphql"] = "graphql"
    query: str
    connection: str  # dotted path, e.g. "data.issues"
    size_var: str = "first"
    cursor_var: str = "after"
    variables: dict[str, Any] = Field(default_factory=dict)

    def first(self, req, size):
        # variables from the request (since_body: {"variables": {...}}) merge over the declared ones
        variables = merge(self.variables, (req.get("json") or {}).get("variables") or {})
        req["json"] = {"query": self.query, "variables": {**variables, self.size_var: size, self.cursor_var: None}}
        return req

    def apply(self, req, state, size):
        self.first(req, size)
        req["json"]["variables"][self.cursor_var] = state["cursor"]
        return req

    def next(self, state, resp, body, records, size, vendor_url):
        if isinstance(body, dict) and body.get("errors"):
            # only the first error's message, shortened: the rest of an error answer may echo anything
            errors = body["errors"] if isinstance(body["errors"], list) else [body["errors"]]
            message = errors[0].get("message") if isinstance(errors[0], dict) else None
            more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
            raise VendorDataError(f"GraphQL error: {vendor_text(message or 'no message')}{more}")
        info = _dig(body, f"{self.connection}.pageInfo", required=False) or {}
        return {"cursor": info["endCursor"]} if info.get("hasNextPage") and records else None


class SearchAfterPaging(_Paging):
    """Elasticsearch/OpenSearch: a point in time, sorted search, `search_after` = last hit's sort.

    The PIT is the listing's state on the cluster (it pins segments until its keep_alive runs out): `open`
    makes page 1's state, `close` sends `DELETE /_pit`, after the last page and when fetching fails for good
    (connectors/elastic: its fetch_page hook and Connector.release)."""

    kind: Literal["search_after"] = "search_after"
    pit_path: str  # e.g. "/{index}/_pit"
    close_path: str = "/_pit"
    keep_alive: str = "1m"
    sort: list[dict[str, Any]]

    def first(self, req, size):
        req["json"] = {**(req.get("json") or {}), "size": size, "sort": self.sort}
        return req

    def apply(self, req, state, size):
        self.first(req, size)
        req["json"]["pit"] = {"id": state["pit"], "keep_alive": self.keep_alive}
        if state.get("after") is not None:
            req["json"]["search_after"] = state["after"]
        return req

    def next(self, state, resp, body, records, size, vendor_url):
        pit = body.get("pit_id") or (state or {}).get("pit")  # always the newest id the cluster gave
        if not records or len(records) < size:
            return None
        return {"pit": pit, "after": records[-1]["sort"]}

    def open(self, conn: Any) -> dict[str, Any]:
        """Page 1's state: a new point in time over the declared index."""
        answer = conn.request_json("POST", conn.url(self.pit_path), params={"keep_alive": self.keep_alive})
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            raise VendorDataError(f"{conn.decl.type}: the point-in-time answer has no id")
        return {"pit": answer["id"], "after": None}

    def close(self, conn: Any, state: dict[str, Any] | None) -> None:
        """Close the state's point in time (a state without one has nothing to close)."""
        pit = (state or {}).get("pit")
        if isinstance(pit, str) and pit:
            conn.request_json("DELETE", conn.url(self.close_path), json={"id": pit})


class XmlTruncationPaging(_Paging):
    """Qualys: a WARNING with a URL to the next batch while more records exist (same origin only)."""

    kind: Literal["xml_truncation"] = "xml_truncation"
    next_url: str  # dotted path in the parsed XML, e.g. "RESPONSE.WARNING.URL"

    def apply(self, req, state, size):
        return {**req, "url": state["url"], "params": {}, "json": None}

    def next(self, state, resp, body, records, size, vendor_url):
        url = _dig(body, self.next_url, required=False)
        if not url or not records:
            return None
        if not isinstance(url, str):
            raise VendorDataError(f"truncation URL at {self.next_url!r} is not text")
        return {"url": vendor_url(url.strip())}


class HookPaging(_Paging):
    """Paging done by the connector's own fetch_page hook (async export jobs, search jobs)."""

    kind: Literal["hook"] = "hook"
    style: str  # described in `connectors types`, e.g. "async export + chunks"


PagingSpec = Union[OffsetPaging, PagePaging, TokenPaging, NextUrlPaging, GraphQLPaging, SearchAfterPaging,
                   XmlTruncationPaging, HookPaging]
