"""Splunk's page: the first call creates the search job and waits for it; every call reads offset/count.
The job id (sid) comes from Splunk: it enters our URLs only as one quoted path segment."""
from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from connectors import cursors
from connectors.base import Page
from connectors.templates import vendor_text
from nexus_sync.errors import VendorDataError

POLL_SECONDS = 0.5
POLL_BUDGET_SECONDS = 60.0  # a job still running after this resumes on the next fetch, not in a blocked worker


def fetch_page(conn: Any, state: dict[str, Any] | None, since: str | None) -> Page:
    jobs = f"{conn.config.root}/services/search/jobs"
    if state is None:
        form = {"search": conn.config.search, "output_mode": "json", "exec_mode": "normal"}
        if since:  # epoch seconds: the absolute form earliest_time always accepts, whatever its time_format
            form["earliest_time"] = str(cursors.epoch_seconds(since, conn.cursor_format))
        sid = conn.request_json("POST", jobs, data=form).get("sid")
        if not isinstance(sid, str) or not sid:
            raise VendorDataError("splunk: the search job answer has no sid")
        state = {"sid": sid, "offset": 0}
    job = f"{jobs}/{quote(state['sid'], safe='')}"
    if "total" not in state:
        total = _wait(conn, job)
        if total is None:
            return Page([], state)
        state = {**state, "total": total}
    resp = conn.request_json("GET", f"{job}/results",
                             params={"output_mode": "json", "offset": state["offset"], "count": conn.config.page_size})
    records = resp["results"]
    offset = state["offset"] + len(records)
    return Page(records, {**state, "offset": offset} if records and offset < state["total"] else None, state["total"])


def _wait(conn: Any, job_url: str) -> int | None:
    """resultCount once the job is DONE; None if it is still running when the budget is spent."""
    deadline = time.monotonic() + POLL_BUDGET_SECONDS
    while True:
        content = conn.request_json("GET", job_url, params={"output_mode": "json"})["entry"][0]["content"]
        state = content["dispatchState"]
        if state == "DONE":
            return int(content["resultCount"])
        if state == "FAILED":
            raise VendorDataError(f"splunk search job failed: {_first_message(content.get('messages'))}")
        if time.monotonic() >= deadline:
            return None
        conn.http.sleep(POLL_SECONDS)


def _first_message(messages: Any) -> str:
    """The first job message's text, shortened (a job's messages may quote the search and its data)."""
    first = messages[0] if isinstance(messages, list) and messages else messages
    text = first.get("text") if isinstance(first, dict) else first
    return vendor_text(text) if text else "no message"
