"""JQL takes "yyyy-MM-dd HH:mm" read in the API user's time zone, not the ISO cursor (`fields.updated`)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from connectors import cursors
from connectors.base import Page
from connectors.machinery import DeclaredConnector

# the user's zone lies within UTC-12..+14: starting 12 h early never misses a change; dedup marks the
# overlap UNCHANGED
MARGIN = timedelta(hours=12)


def jql_time(cursor: str) -> str:
    """A checked ISO cursor as a JQL date-time literal (digits, '-', ' ' and ':' only: safe inside "…")."""
    return (cursors.instant(cursor, "iso") - MARGIN).strftime("%Y-%m-%d %H:%M")


def fetch_page(conn: DeclaredConnector, state: dict[str, Any] | None, since: str | None) -> Page:
    return conn.fetch_declared(state, jql_time(since) if since else None)
