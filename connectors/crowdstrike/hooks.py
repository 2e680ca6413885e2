"""CrowdStrike's two-step page: the declared scroll query yields ids, the entities call their hosts."""
from __future__ import annotations

from typing import Any

from connectors.base import Page

DETAILS_MAX = 5000  # POST /devices/entities/devices/v2 takes up to 5000 ids


def fetch_page(conn: Any, state: dict[str, Any] | None, since: str | None) -> Page:
    if conn.config.member_cid:
        conn.auth_.extra_form["member_cid"] = conn.config.member_cid
    ids = conn.fetch_declared(state, since)
    if not ids.records:
        return ids
    details = conn.request_json("POST", f"{conn.config.root}/devices/entities/devices/v2", json={"ids": ids.records})
    return Page(details["resources"] or [], ids.next)
