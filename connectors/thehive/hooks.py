"""TheHive's page: the offset window is a `page` step inside the POSTed query list, not a parameter."""
from __future__ import annotations

from typing import Any

from connectors.base import Page
from connectors.machinery import DeclaredConnector
from nexus_sync.errors import VendorDataError

# never-updated cases carry no _updatedAt: a case is new-or-changed if either time is past the cursor
_CHANGED_FIELDS = ("_updatedAt", "_createdAt")


def fetch_page(conn: DeclaredConnector, state: dict[str, Any] | None, since: str | None) -> Page:
    offset, size = (state or {}).get("offset", 0), conn.config.page_size
    query: list[dict[str, Any]] = [{"_name": "listCase"}]
    if since:
        query.append({"_name": "filter", "_or": [{"_gt": {"_field": f, "_value": int(since)}}
                                                 for f in _CHANGED_FIELDS]})
    query += [{"_name": "sort", "_fields": [{"_createdAt": "asc"}, {"_id": "asc"}]},  # stable under offsets
              {"_name": "page", "from": offset, "to": offset + size}]
    resp = conn.send({"method": "POST", "url": conn.url("/api/v1/query"), "params": {"name": "cases"},
                      "json": {"query": query}})
    cases = conn.decode(resp)
    if not isinstance(cases, list):
        raise VendorDataError("thehive: the query answer is not a JSON array")
    # whether `to` is exclusive is unconfirmed: continue from what came back, stop on a short page
    return Page(cases, {"offset": offset + len(cases)} if len(cases) >= size else None)


def after_persist(tenant_id: Any, records: list[dict[str, Any]]) -> dict[str, int]:
    """The incident sync engine (spec 002): HIGH/CRITICAL open cases become risks, once per case."""
    from nexus_sync import risks

    return risks.sync_risks(tenant_id, records)
