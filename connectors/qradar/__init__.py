"""IBM QRadar offenses (vendor-apis-2.md §23): the `SEC` token header, the API version pinned by the `Version`
header (omitted, QRadar answers in its newest version, whose fields can change), paging by the `Range: items=x-y`
request header with `Content-Range: items x-y/total` in the answer, and an id keyset for incremental syncs
(`filter=id > <last id>`, `sort=+id`, as XSOAR fetches; `last_updated_time` moves whenever events arrive, so it
is not the cursor). Offense times are epoch milliseconds."""
from __future__ import annotations

from typing import Any

from connectors.machinery import Declaration, HeaderAuth, Request, declare
from connectors.machinery.paging.range_header import RangeHeaderPaging
from nexus_sync.models import utc_iso

DECLARATION = Declaration(
    type="qradar", title="IBM QRadar offenses", category="siem", kind="incident", stream="offenses",
    auth=HeaderAuth(header="SEC", template="{token}"),  # an authorized service token
    request=Request(path="/api/siem/offenses", params={"sort": "+id"},
                    headers={"Version": "{api_version}", "Accept": "application/json"},
                    since_params={"filter": "id > {since}"}),
    paging=RangeHeaderPaging(),
    records="", id_field="id", cursor_field="id", cursor_format="int",
    # QRadar's error body: {"http_response": {"code", "message"}, "code", "message", "description", "details"}
    error_code="code", error_message="message",
    page_size=50, max_page_size=500,  # XSOAR caps offenses at 50 a call
    config_fields={"api_version": "20.0"},
)

# offense `status` values (§23): anything else is kept as QRadar wrote it, lower-cased
STATUSES = {"OPEN": "open", "HIDDEN": "hidden", "CLOSED": "closed"}


def offense_severity(raw: dict[str, Any]) -> str:
    """QRadar rates `severity` (and `magnitude`, which weighs it) 0-10: 8+ critical, 6+ high, 4+ medium, 1+ low,
    0 info. A value that is no number takes the magnitude; with neither, medium (raw_data keeps both)."""
    for value in (raw.get("severity"), raw.get("magnitude")):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            continue
        try:
            level = float(value)
        except (TypeError, ValueError):
            continue
        if level != level:  # NaN
            continue
        for floor, label in ((8, "critical"), (6, "high"), (4, "medium"), (1, "low")):
            if level >= floor:
                return label
        return "info"
    return "medium"


def _texts(value: Any) -> list[str]:
    """A list of names where one name, none or a list may come."""
    if value is None or value == "":
        return []
    values = value if isinstance(value, list) else [value]
    return [str(v) for v in values if v is not None and v != "" and not isinstance(v, (dict, list))]


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    description = raw.get("description")
    text = " ".join(description.split()) if isinstance(description, str) else None  # QRadar ends it with "\n"
    status = raw.get("status")
    return {
        "uid": str(raw["id"]),
        "title": text or f"Offense {raw['id']}",
        "severity": offense_severity(raw),
        "time": utc_iso(raw.get("start_time")) or utc_iso(raw.get("first_persisted_time"))
        or utc_iso(raw.get("last_updated_time")),
        "status": STATUSES.get(status, str(status).lower()) if status is not None else None,
        "description": text,
        "tags": _texts(raw.get("categories")),
    }


CONNECTOR = declare(DECLARATION, normalize)
