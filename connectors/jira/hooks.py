"""JQL takes "yyyy-MM-dd HH:mm" read in the API user's time zone, not the ISO cursor (`fields.updated`)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from connectors.base import Page

# the user's zone lies within UTC-12..+14: starting 12 h early never misses a change; dedup marks the
# overlap UNCHANGED
MARGIN = timedelta(hours=12)


def jql_time(cursor: str) -> str:
    at = datetime.fromisoformat(cursor.replace("Z", "+00:00")).astimezone(timezone.utc) - MARGIN
    return at.strftime("%Y-%m-%d %H:%M")


def fetch_page(conn: Any, state: dict[str, Any] | None, since: str | None) -> Page:
    return conn.fetch_declared(state, jql_time(since) if since else None)
