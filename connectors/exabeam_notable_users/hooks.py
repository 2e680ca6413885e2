"""Exabeam AA's notable users: one ranked list a sync (no paging, no cursor: vendor-apis-2.md §25 quirk 3)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.base import Page
from nexus_sync.errors import VendorDataError

if TYPE_CHECKING:
    from connectors.machinery import DeclaredConnector

NOTABLE = "/uba/api/users/notable"


def fetch_page(conn: DeclaredConnector, state: dict[str, Any] | None, since: str | None) -> Page:
    ctx = conn.template_context()
    body = conn.request_json("GET", conn.url(NOTABLE), params={
        "unit": ctx["unit"], "num": ctx["num"], "numberOfResults": ctx["number_of_results"]})
    if not isinstance(body, dict) or "users" not in body:  # a full listing: no list is never "nobody notable"
        raise VendorDataError("the notable users answer holds no `users` list")
    return Page(conn.records_of(body), None)
