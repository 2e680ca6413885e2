"""Splunk notable events: bearer token, search job (create → poll → page results) (vendor-apis.md §12)."""
from __future__ import annotations

from typing import Any

from connectors.machinery import Declaration, HeaderAuth, JobPaging, Request, declare
from nexus_sync.models import severity, utc_iso

DECLARATION = Declaration(
    type="splunk", title="Splunk notable events", category="siem", kind="event", stream="notable",
    auth=HeaderAuth(template="Bearer {token}"),  # a Splunk auth token; sessionKey login answers XML only
    paging=JobPaging(
        noun="search job",
        # earliest_time in epoch seconds: the absolute form it always accepts, whatever its time_format
        create=Request(method="POST", path="/services/search/jobs",
                       form={"search": "{search}", "output_mode": "json", "exec_mode": "normal"},
                       since_form={"earliest_time": "{since_epoch}"}),
        job_id="sid",  # enters our URLs only as one quoted path segment
        poll=Request(path="/services/search/jobs/{job}", params={"output_mode": "json"}),
        status="entry.0.content.dispatchState", done=("DONE",), failed=("FAILED",),
        failure_message="entry.0.content.messages.0.text",  # the first message only: they may quote the data
        poll_seconds=1, budget_seconds=1800,  # a search past half an hour fails, naming its sid
        read=Request(path="/services/search/jobs/{job}/results", params={"output_mode": "json"}),
        total="entry.0.content.resultCount", offset_param="offset", count_param="count"),
    records="results",
    id_field="event_id",  # see notable_id: the notable's own id, else _bkt + _cd
    cursor_field="_time",
    volatile=("_serial",),  # the result's position in this search's results, not part of the notable
    error_code="messages.0.type", error_message="messages.0.text",
    page_size=1000, max_page_size=50_000,  # maxresultrows
    config_fields={"search": "search index=notable"},
)

# Enterprise Security rates urgency informational/low/medium/high/critical (severity × asset priority). Any
# other value (a customised urgency lookup, "unknown") or none is rated medium, the middle of the scale: an
# unrated notable is neither buried as info nor raised as critical. raw_data keeps what Splunk said.
URGENCY_FALLBACK = "medium"


def first_value(value: Any) -> Any:
    """The declared rule for a multivalue field where one value is expected: Splunk's JSON output renders a
    multivalue field as a list, and its first non-empty value stands for it (raw_data keeps them all)."""
    if isinstance(value, list):
        return next((v for v in value if v not in (None, "")), None)
    return value


def notable_id(raw: dict[str, Any]) -> str:
    """A notable's identity across an indexer cluster. `_cd` (bucket:offset) is numbered per indexer, so it
    repeats across peers; the notable's `event_id` is its own id, and `_bkt` (index~bucket~indexer GUID) with
    `_cd` identifies any event (vendor-apis.md §12), for searches that are not over notables."""
    event_id = first_value(raw.get("event_id"))
    if event_id:
        return str(event_id)
    if raw.get("_bkt") and raw.get("_cd"):
        return f"{raw['_bkt']}:{raw['_cd']}"
    raise KeyError("event_id")  # no identity: the record is rejected and named in the report


def urgency(value: Any) -> str:
    value = first_value(value)
    try:
        return severity(value) if value not in (None, "") else URGENCY_FALLBACK
    except ValueError:
        return URGENCY_FALLBACK


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    # Enterprise Security notable fields: rule_name, urgency, status_label (not in §12: an assumption)
    return {
        "uid": notable_id(raw),
        "title": first_value(raw.get("rule_name")) or first_value(raw["search_name"]),
        "severity": urgency(raw.get("urgency")),
        "time": utc_iso(raw["_time"]),
        "host": first_value(raw.get("dest")) or first_value(raw.get("host")),
        "user": first_value(raw.get("user")),
        "status": first_value(raw.get("status_label")),
    }


class SplunkNotables(declare(DECLARATION, normalize)):  # type: ignore[misc]
    def source_id(self, raw: dict[str, Any]) -> str:
        return notable_id(raw)


CONNECTOR = SplunkNotables
