"""Relay-style GraphQL connection: {nodes, pageInfo {hasNextPage, endCursor}} at `connection`."""
from __future__ import annotations

from typing import Any, Literal

import requests
from pydantic import Field

from connectors.machinery.paging import PagingSpec, State, VendorUrl, count_at
from connectors.machinery.request import RequestDict
from connectors.machinery.templates import merge, vendor_text
from nexus_sync.errors import VendorDataError
from nexus_sync.http import dig


class GraphQLPaging(PagingSpec):
    kind: Literal["graphql"] = "graphql"
    query: str
    connection: str  # dotted path, e.g. "data.issues"
    size_var: str = "first"
    cursor_var: str = "after"
    variables: dict[str, Any] = Field(default_factory=dict)
    total: str | None = None  # dotted path of the connection's record count (OpenCTI pageInfo.globalCount)

    def templates(self) -> Any:
        # a GraphQL query is full of braces but is not a template: its inputs travel as variables
        return self.model_dump(exclude={"query"})

    def first(self, req: RequestDict, size: int) -> RequestDict:
        # variables from the request (since_body: {"variables": {...}}) merge over the declared ones
        variables = merge(self.variables, (req.get("json") or {}).get("variables") or {})
        req["json"] = {"query": self.query, "variables": {**variables, self.size_var: size, self.cursor_var: None}}
        return req

    def apply(self, req: RequestDict, state: State, size: int) -> RequestDict:
        self.first(req, size)
        req["json"]["variables"][self.cursor_var] = state["cursor"]
        return req

    def next(self, state: State | None, resp: requests.Response, body: Any, records: list[Any], size: int,
             vendor_url: VendorUrl) -> State | None:
        if isinstance(body, dict) and body.get("errors"):
            # only the first error's message, shortened: the rest of an error answer may echo anything
            errors = body["errors"] if isinstance(body["errors"], list) else [body["errors"]]
            message = errors[0].get("message") if isinstance(errors[0], dict) else None
            more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
            raise VendorDataError(f"GraphQL error: {vendor_text(message or 'no message')}{more}")
        info = dig(body, f"{self.connection}.pageInfo") or {}
        return {"cursor": info["endCursor"]} if info.get("hasNextPage") and records else None

    def total_of(self, resp: requests.Response, body: Any) -> int | None:
        return count_at(body, self.total)
