"""CloudTrail delivers events several minutes late (vendor-apis-2.md §29 quirk 3): an incremental window
starts LAG_SECONDS before the saved cursor, and events seen again are unchanged (deduplicated on EventId)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.base import Page

if TYPE_CHECKING:
    from connectors.machinery import DeclaredConnector, State

LAG_SECONDS = 900


def fetch_page(conn: DeclaredConnector, state: State | None, since: str | None) -> Page:
    """The declared page, its StartTime LAG_SECONDS before the cursor (an epoch_s cursor is whole seconds)."""
    if since is not None and since.isdigit():
        since = str(max(0, int(since) - LAG_SECONDS))
    return conn.fetch_declared(state, since)
