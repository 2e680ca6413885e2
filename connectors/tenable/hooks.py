"""Tenable's export: POST a job, poll its status until FINISHED, then one page per chunk.
The page state carries the export uuid and the chunk ids still to fetch; both come from Tenable and enter
our URLs only as quoted path segments."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from connectors import cursors
from connectors.base import Page
from nexus_sync.errors import TransientError, VendorDataError

POLL_SECONDS = 3.0
MAX_POLLS = 200
# the export's default state filter leaves out FIXED findings: ask for all, so fixes arrive too
STATES = ["OPEN", "REOPENED", "FIXED"]
_UUID = re.compile(r"[0-9A-Za-z-]{1,64}")  # export_uuid: a UUID; it is quoted in our URLs and messages


def fetch_page(conn: Any, state: dict[str, Any] | None, since: str | None) -> Page:
    if state is None:
        state = start_export(conn, since)
        if not state["chunks"]:
            return Page([], None)
    uuid, (chunk, *rest) = state["uuid"], state["chunks"]
    records = conn.request_json("GET", f"{_export(conn, uuid)}/chunks/{quote(str(chunk), safe='')}")
    if not isinstance(records, list):
        raise VendorDataError(f"tenable: chunk {chunk} of export {uuid} is not a JSON array")
    return Page(records, {"uuid": uuid, "chunks": rest} if rest else None)


def start_export(conn: Any, since: str | None) -> dict[str, Any]:
    filters: dict[str, Any] = {"state": STATES}
    if since:
        filters["since"] = cursors.epoch_seconds(since, conn.cursor_format)
    job = conn.request_json("POST", f"{conn.config.root}/vulns/export",
                            json={"num_assets": conn.config.page_size, "filters": filters})
    uuid = job.get("export_uuid") if isinstance(job, dict) else None
    if not isinstance(uuid, str) or not _UUID.fullmatch(uuid):
        raise VendorDataError("tenable: the export answer has no export uuid")
    for _ in range(MAX_POLLS):
        status = conn.request_json("GET", f"{_export(conn, uuid)}/status")
        if status["status"] == "FINISHED":
            chunks = status.get("chunks_available") or []
            if not all(isinstance(c, int) and not isinstance(c, bool) for c in chunks):
                raise VendorDataError(f"tenable: export {uuid} lists chunk ids that are not integers")
            return {"uuid": uuid, "chunks": sorted(chunks)}
        if status["status"] in ("CANCELLED", "ERROR"):
            raise VendorDataError(f"tenable: export {uuid} ended {status['status']}")
        conn.http.sleep(POLL_SECONDS)
    raise TransientError(f"tenable: export {uuid} not finished after {MAX_POLLS * POLL_SECONDS:.0f}s")


def _export(conn: Any, uuid: str) -> str:
    return f"{conn.config.root}/vulns/export/{quote(uuid, safe='')}"
