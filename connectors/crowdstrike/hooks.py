"""CrowdStrike's two-step page: the declared scroll query yields ids, the entities call their hosts."""
from __future__ import annotations

from typing import Any

from connectors.base import Page
from connectors.machinery import DeclaredConnector

DETAILS_MAX = 5000  # POST /devices/entities/devices/v2 takes up to 5000 ids


def fetch_page(conn: DeclaredConnector, state: dict[str, Any] | None, since: str | None) -> Page:
    ids = conn.fetch_declared(state, since)
    if not ids.records:
        return ids
    details = conn.request_json("POST", f"{conn.config.root}/devices/entities/devices/v2", json={"ids": ids.records})
    return Page(details["resources"] or [], ids.next, ids.total)  # the query's total counts the hosts
