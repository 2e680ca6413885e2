"""ArcSight Logger events by search (vendor-apis-2.md §24): a login token (`POST
/core-service/rest/LoginService/login` form `login`, `password`, `Accept: application/json` →
`log.loginResponse.log.return`) sent as `user_session_id` in each JSON body, logged out with `POST
.../LoginService/logout` form `authToken`. A search is a job (paging/job.py): `POST /server/search` with a
client-chosen `search_session_id` over a `start_time`/`end_time` window, polled at `/server/search/status`
(running / complete / error — the error answered with HTTP 200), read at `/server/search/events` by
`offset`/`length` (`fields` + positional `results`, zipped), closed at `/server/search/close`.

The search and its results die with the user session, so the session belongs to the search
(paging/job_session.py): handed sealed from one fetch task to the next while the search runs or has more to
read, logged out after the last page or on any failure, and a dead session restarts the search once. A search
counts at most 10,000 events: one that reaches the cap is closed and its window halved (paging/job_window.py).
Identity: `_rowId`, the Logger's own id of the stored event (the same event keeps it in every search; a
position in one search's results would not)."""
from __future__ import annotations

from typing import Any

from connectors.arcsight_esm import severity
from connectors.machinery import Declaration, ErrorWhen, JobPaging, JobWindow, Logout, Request, SessionLogin, declare
from connectors.machinery.values import instant as _time
from connectors.machinery.values import text as _text

LOGIN = "/core-service/rest/LoginService/"
SEARCH = "/server/search"
SEARCH_ID = {"search_session_id": "{job}"}  # the session's token joins every body (auth body_field)
POLL_SECONDS, BUDGET_SECONDS = 2.0, 600.0
# how long the Logger keeps a finished search's results (default 2 min): the poll budget and the reads, queued
SEARCH_TIMEOUT_MS = 30 * 60 * 1000

DECLARATION = Declaration(
    type="arcsight_logger", title="ArcSight Logger events (search)", category="siem", kind="event", stream="events",
    # base_url: https://<logger>[:443|:9000]
    auth=SessionLogin(path=LOGIN + "login", form={"login": "{username}", "password": "{password}"},
                      headers={"Accept": "application/json"}, token="log.loginResponse.log.return",
                      body_field="user_session_id",
                      logout=Logout(path=LOGIN + "logout", method="POST", form={"authToken": "{session}"})),
    paging=JobPaging(
        noun="search", client_id=True, session=True,
        create=Request(method="POST", path=SEARCH, json_body={
            **SEARCH_ID, "query": "{query}", "start_time": "{window_start}", "end_time": "{window_end}",
            "local_search": True, "timeout": SEARCH_TIMEOUT_MS}),
        poll=Request(method="POST", path=SEARCH + "/status", json_body=SEARCH_ID),
        status="status", done=("complete",), failed=(),  # "error" is answered as a 500 first (error_when)
        poll_seconds=POLL_SECONDS, budget_seconds=BUDGET_SECONDS, total="hit",
        read=Request(method="POST", path=SEARCH + "/events", json_body={**SEARCH_ID, "dir": "forward"}),
        offset_param="offset", count_param="length", page_in="body", columns="fields",
        close=Request(method="POST", path=SEARCH + "/close", json_body=SEARCH_ID),
        window=JobWindow(cap=10_000, lag_seconds=60)),
    error_code="errorCode", error_message="errorMessage",  # the ESM's JSON error envelope (unconfirmed in §24)
    records="results", id_field="_rowId", cursor_format="iso",  # the cursor: the end of each window read
    # a search that failed answers HTTP 200 with "status": "error": a server error, retried with a new search
    error_when=ErrorWhen(path="status", values=("error",), status=500, message="message"),
    page_size=1000, max_page_size=10000,
    config_fields={"query": ""},  # Logger query text; "" = every event of the window
)
TIMES = ("Event Time", "deviceReceiptTime", "endTime")  # ISO-8601 text or epoch ms


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "uid": str(raw["_rowId"]),
        "title": _text(raw.get("name")) or f"ArcSight Logger event {raw['_rowId']}",
        "severity": severity(raw.get("priority") if raw.get("priority") is not None else raw.get("agentSeverity")),
        "time": next((t for t in (_time(raw.get(f)) for f in TIMES) if t), None),
        "host": _text(raw.get("destinationHostName")) or _text(raw.get("deviceHostName"))
        or _text(raw.get("destinationAddress")),
        "user": _text(raw.get("sourceUserName")) or _text(raw.get("destinationUserName")),
        "status": None,
    }


CONNECTOR = declare(DECLARATION, normalize)
