"""Tenable's export: POST a job, poll its status until FINISHED, then one page per chunk.
The page state carries the export uuid and the chunk ids still to fetch."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.base import Page
from nexus_sync.errors import TransientError, VendorDataError

POLL_SECONDS = 3.0
MAX_POLLS = 200
# the export's default state filter leaves out FIXED findings: ask for all, so fixes arrive too
STATES = ["OPEN", "REOPENED", "FIXED"]


def fetch_page(conn: Any, state: dict[str, Any] | None, since: str | None) -> Page:
    if state is None:
        state = start_export(conn, since)
        if not state["chunks"]:
            return Page([], None)
    uuid, (chunk, *rest) = state["uuid"], state["chunks"]
    records = conn.http.json("GET", f"{conn.config.root}/vulns/export/{uuid}/chunks/{chunk}", auth=conn.auth_)
    if not isinstance(records, list):
        raise VendorDataError(f"tenable: chunk {chunk} of export {uuid} is not a JSON array")
    return Page(records, {"uuid": uuid, "chunks": rest} if rest else None)


def start_export(conn: Any, since: str | None) -> dict[str, Any]:
    root, auth = conn.config.root, conn.auth_
    filters: dict[str, Any] = {"state": STATES}
    if since:
        filters["since"] = int(datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp())
    job = conn.http.json("POST", f"{root}/vulns/export", json={"num_assets": conn.config.page_size,
                                                                "filters": filters}, auth=auth)
    uuid = job["export_uuid"]
    for _ in range(MAX_POLLS):
        status = conn.http.json("GET", f"{root}/vulns/export/{uuid}/status", auth=auth)
        if status["status"] == "FINISHED":
            return {"uuid": uuid, "chunks": sorted(status.get("chunks_available") or [])}
        if status["status"] in ("CANCELLED", "ERROR"):
            raise VendorDataError(f"tenable: export {uuid} ended {status['status']}")
        conn.http.sleep(POLL_SECONDS)
    raise TransientError(f"tenable: export {uuid} not finished after {MAX_POLLS * POLL_SECONDS:.0f}s")
