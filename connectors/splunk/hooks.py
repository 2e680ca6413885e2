"""Splunk's page: the first call creates the search job and waits for it; every call reads offset/count."""
from __future__ import annotations

import time
from typing import Any

from connectors.base import Page
from nexus_sync.errors import VendorDataError

POLL_SECONDS = 0.5
POLL_BUDGET_SECONDS = 60.0  # a job still running after this resumes on the next fetch, not in a blocked worker


def fetch_page(conn: Any, state: dict[str, Any] | None, since: str | None) -> Page:
    jobs = f"{conn.config.root}/services/search/jobs"
    if state is None:
        form = {"search": conn.config.search, "output_mode": "json", "exec_mode": "normal"}
        if since:
            form["earliest_time"] = since
        state = {"sid": conn.http.json("POST", jobs, data=form, auth=conn.auth_)["sid"], "offset": 0}
    if "total" not in state:
        total = _wait(conn, f"{jobs}/{state['sid']}")
        if total is None:
            return Page([], state)
        state = {**state, "total": total}
    resp = conn.http.json("GET", f"{jobs}/{state['sid']}/results", auth=conn.auth_,
                          params={"output_mode": "json", "offset": state["offset"], "count": conn.config.page_size})
    records = resp["results"]
    offset = state["offset"] + len(records)
    return Page(records, {**state, "offset": offset} if records and offset < state["total"] else None, state["total"])


def _wait(conn: Any, job_url: str) -> int | None:
    """resultCount once the job is DONE; None if it is still running when the budget is spent."""
    deadline = time.monotonic() + POLL_BUDGET_SECONDS
    while True:
        content = conn.http.json("GET", job_url, params={"output_mode": "json"}, auth=conn.auth_)["entry"][0]["content"]
        state = content["dispatchState"]
        if state == "DONE":
            return int(content["resultCount"])
        if state == "FAILED":
            raise VendorDataError(f"splunk search job failed: {str(content.get('messages'))[:300]}")
        if time.monotonic() >= deadline:
            return None
        conn.http.sleep(POLL_SECONDS)
