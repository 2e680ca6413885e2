"""Acunetix has no "changed since" filter (a `last_seen` range term in `q` is unconfirmed): the listing is
sorted by `last_seen:desc`, and an incremental sync reads it until the stored high-water mark, then stops."""
from __future__ import annotations

from typing import Any

from connectors import cursors
from connectors.base import Page
from connectors.machinery import DeclaredConnector


def _older(conn: DeclaredConnector, raw: dict[str, Any], since: str) -> bool:
    try:
        seen = conn.cursor_value(raw)
    except ValueError:  # an unreadable last_seen: keep the record (it lands), never stop the listing by it
        return False
    # as instants: canonical ISO text drops a zero fraction, so its text order is not time order
    return seen is not None and cursors.instant(seen, "iso") < cursors.instant(since, "iso")


def fetch_page(conn: DeclaredConnector, state: dict[str, Any] | None, since: str | None) -> Page:
    page = conn.fetch_declared(state, since)
    if not since:
        return page
    newer = [r for r in page.records if not _older(conn, r, since)]
    if len(newer) == len(page.records):
        return page
    # the first record below the mark: everything after it is older still (last_seen:desc); the listing was
    # cut, so the vendor's count says nothing about it
    return Page(newer, None, None)
