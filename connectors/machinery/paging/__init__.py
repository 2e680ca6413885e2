"""Paging kinds of declared connectors, one module each; each kind owns how its listing runs.

A new kind is a module here with a PagingSpec subclass (`kind: Literal["name"] = "name"`), re-exported by
connectors.machinery. Most kinds page one request: they shape page 1 (`first`), a later page (`apply`) and
read the next page's JSON state from an answer (`next`, None after the last page). A kind that needs more
(a point in time to open and close, a vendor job to create and poll) overrides `fetch` and `release`.

A URL a vendor names (next link, truncation URL) reaches the state only through `vendor_url`, the
connector's check that it stays on the connector's own scheme://host:port (DESIGN §10)."""
from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import requests

from connectors.base import Page
from connectors.machinery.kinds import BrokenDeclaration, Kind
from connectors.machinery.request import Request, RequestDict
from nexus_sync.http import dig

if TYPE_CHECKING:
    from connectors.machinery.connector import DeclaredConnector
    from connectors.machinery.declaration import Declaration

VendorUrl = Callable[[str], str]  # vendor URL → the same URL resolved on the connector's origin, or raise
State = dict[str, Any]  # a page's JSON state


class PagingSpec(Kind):
    """What a vendor declares as `paging=`."""

    kinds: ClassVar[dict[str, type[Kind]]] = {}

    def describe(self) -> str:
        """How it pages, for `connectors types`."""
        return self.kind

    def templates(self) -> Any:
        """What holds this kind's "{name}" templates (checked against the declared config fields)."""
        return self.model_dump()

    def own_requests(self) -> tuple[Request, ...]:
        """The requests this kind declares itself (beyond the declaration's own)."""
        return ()

    def runtime_fields(self) -> set[str]:
        """Template names this kind fills itself at run time (a job id)."""
        return set()

    def config_fields(self) -> dict[str, Any]:
        """Config settings this kind adds to the connector's config: name -> (type, default)."""
        return {}

    def check(self, decl: Declaration, request: Request | None, hooks: ModuleType | None) -> None:
        """BrokenDeclaration for a listing (its request, with this paging) this kind cannot page."""
        if request is None:
            raise BrokenDeclaration(f"{decl.type}: {self.kind} paging needs a request")

    # ---- one page of a request/answer listing
    def fetch(self, conn: DeclaredConnector, request: Request | None, ctx: dict[str, Any],
              state: State | None) -> Page:
        """One page: the request shaped for this page, sent, its records and the next page's state."""
        assert request is not None  # check() refused a declaration without one
        size = conn.config.page_size
        req = request.build(conn.config.root, ctx)
        req = self.apply(req, state, size) if state else self.first(req, size)
        resp = conn.send(req)
        body = conn.decode(resp)
        records = conn.records_of(body)
        nxt = self.next(state, resp, body, records, size, lambda url: conn.vendor_url(url, resp.url))
        return Page(records, nxt, self.total_of(resp, body))

    def release(self, conn: DeclaredConnector, state: State | None) -> None:
        """Give back what the vendor holds for an unfinished listing (best effort)."""

    def total_of(self, resp: requests.Response, body: Any) -> int | None:
        """How many records the vendor says its whole listing holds (Page.total), where it says so."""
        return None

    def first(self, req: RequestDict, size: int) -> RequestDict:
        return req

    def apply(self, req: RequestDict, state: State, size: int) -> RequestDict:
        raise NotImplementedError

    def next(self, state: State | None, resp: requests.Response, body: Any, records: list[Any], size: int,
             vendor_url: VendorUrl) -> State | None:
        raise NotImplementedError


def count_at(body: Any, path: str | None) -> int | None:
    """The vendor's record count at a dotted path of the answer; None where it gives none (or no number)."""
    return _count(dig(body, path) if path else None)


def count_in_header(resp: requests.Response, name: str | None) -> int | None:
    """The vendor's record count in a response header (ServiceNow's X-Total-Count)."""
    return _count(resp.headers.get(name) if name else None)


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value) if value is not None and int(value) >= 0 else None
    except (TypeError, ValueError):  # no count is no claim: the listing is then not checked for completeness
        return None


def put(req: RequestDict, where: str, key: str, value: Any) -> None:
    """Set a paging value in the query parameters or the JSON body."""
    if where == "body":
        req["json"] = {**(req.get("json") or {}), key: value}
    else:
        req["params"] = {**req["params"], key: value}
