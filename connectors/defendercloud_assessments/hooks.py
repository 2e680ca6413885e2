"""Defender for Cloud assessments carry no severity: each page of the declared listing is joined with the
tenant's assessmentMetadata by assessment key (vendor-apis-2.md §26 quirk 1). The metadata (built-in
definitions: they change with Defender releases, not per sync) is listed by nextLink once per connector and
process and kept METADATA_TTL seconds; the join writes it where `$expand=metadata` would: `properties.metadata`."""
from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlencode

from connectors.base import Page
from connectors.machinery import DeclaredConnector
from nexus_sync.errors import VendorDataError

API_VERSION = "2021-06-01"
METADATA_PATH = "/providers/Microsoft.Security/assessmentMetadata"
METADATA_TTL = 3600.0
MAX_METADATA_PAGES = 100
KEPT = ("displayName", "severity", "categories", "userImpact", "implementationEffort", "threats", "assessmentType")

_cache: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}
_lock = threading.Lock()


def metadata(conn: DeclaredConnector) -> dict[str, dict[str, Any]]:
    """Assessment key → its metadata's properties (the fields in KEPT)."""
    key = f"{conn.ctx.name}|{conn.config.root}"
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] > time.time():
            return hit[1]
    found: dict[str, dict[str, Any]] = {}
    url: str | None = conn.url(METADATA_PATH) + "?" + urlencode({"api-version": API_VERSION})
    pages = 0
    while url is not None:
        pages += 1
        if pages > MAX_METADATA_PAGES:
            raise VendorDataError(f"{conn.ctx.name}: assessmentMetadata pages beyond {MAX_METADATA_PAGES}")
        body = conn.request_json("GET", url)
        for item in conn.records_of(body):
            props = item.get("properties") if isinstance(item, dict) else None
            if isinstance(props, dict) and isinstance(item.get("name"), str):
                found[item["name"]] = {k: props[k] for k in KEPT if k in props}
        nxt = body.get("nextLink") if isinstance(body, dict) else None
        if nxt is not None and not isinstance(nxt, str):
            raise VendorDataError(f"{conn.ctx.name}: assessmentMetadata nextLink is not a string")
        url = conn.vendor_url(nxt, url) if nxt else None
    with _lock:
        _cache[key] = (time.time() + METADATA_TTL, found)
    return found


def joined(record: Any, meta: dict[str, dict[str, Any]]) -> Any:
    """The assessment with its metadata in properties.metadata (a record that has one, or no known key, as is)."""
    if not isinstance(record, dict) or not isinstance(record.get("properties"), dict):
        return record
    props, name = record["properties"], record.get("name")
    found = meta.get(name) if isinstance(name, str) else None
    if found is None or "metadata" in props:
        return record
    return {**record, "properties": {**props, "metadata": found}}


def fetch_page(conn: DeclaredConnector, state: dict[str, Any] | None, since: str | None) -> Page:
    page = conn.fetch_declared(state, since)
    if not page.records:
        return page
    meta = metadata(conn)
    return Page([joined(r, meta) for r in page.records], page.next, page.total, page.cursor, page.wait)
