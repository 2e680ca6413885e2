"""Completeness: what each endpoint of a listing said it holds (its first page's total) against the records
it sent. Fetch records every page as it stages it; close compares, and a shortfall ends the sync PARTIAL with
the cursor unmoved (a listing that sent less than it announced has a gap we cannot see).

Records are counted as the vendor sent them: repeats merged later and records skipped as invalid count (the
vendor did send them). More than the total is no shortfall: records added while the listing ran."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from connectors.base import Connector
from nexus_sync import db

# every staged page of the sync, by batch: [endpoint, records received, the page's total or None, since?]
# kept in sync_history.error_details["fetched"], written in the fetch's own transaction (a replayed fetch of a
# batch overwrites its entry: counted once)
RECORD_SQL = sa.text(
    "UPDATE sync_history SET error_details = coalesce(error_details, '{}'::jsonb) || jsonb_build_object("
    "'fetched', coalesce(error_details->'fetched', '{}'::jsonb) || jsonb_build_object(CAST(:batch AS text), "
    "CAST(:entry AS jsonb))) WHERE id = :hid")


def endpoint_of(vendor: type[Connector], state: dict[str, Any] | None) -> str:
    """The endpoint a page of `state` comes from: the listing's request path, and for a declared further
    listing (Pass) its number; a page state names its pass as "pass": n (connectors.machinery.declaration)."""
    decl = getattr(vendor, "decl", None)
    passes = len(decl.passes) if decl is not None else 0
    which = (state or {}).get("pass", 0) if passes else 0
    which = which if isinstance(which, int) and 0 <= which <= passes else 0
    request = decl.listing(which)[0] if decl is not None else None
    name = request.path if request is not None else "listing"
    return f"{name} (pass {which})" if which else name


def record_page(conn: sa.Connection, hid: uuid.UUID, batch_no: int, endpoint: str, received: int,
                total: int | None, since: str | None) -> None:
    """One staged page: its endpoint, how many records the vendor sent, the total it stated, and whether the
    sync runs from a saved cursor (incremental)."""
    conn.execute(RECORD_SQL, {"hid": hid, "batch": batch_no,
                              "entry": json.dumps([endpoint, received, total, since is not None])})


@dataclass
class Completeness:
    """Expected (None: the vendor states no total) and fetched records per endpoint, in listing order."""

    endpoints: dict[str, dict[str, int | None]] = field(default_factory=dict)
    incremental: bool = False
    known: bool = False  # the pages were recorded (a sync closed before any page was fetched has none)

    @property
    def short(self) -> dict[str, dict[str, int | None]]:
        """The endpoints that sent fewer records than their total."""
        return {name: c for name, c in self.endpoints.items()
                if c["expected"] is not None and (c["fetched"] or 0) < c["expected"]}

    @property
    def full(self) -> bool:
        """A full listing (no saved cursor) whose every page was recorded."""
        return self.known and not self.incremental

    def reason(self) -> str | None:
        """Why the sync is PARTIAL for completeness, for the report's `reason`."""
        short = self.short
        if not short:
            return None
        return "short listing: " + "; ".join(
            f"{name} sent {c['fetched']} of the {c['expected']} records its total announced"
            for name, c in short.items())


def recorded_pages(conn: sa.Connection, hid: uuid.UUID) -> dict[str, Any]:
    """Every page fetch staged and recorded (RECORD_SQL), by batch number (as text)."""
    details = conn.execute(sa.select(db.sync_history.c.error_details)
                           .where(db.sync_history.c.id == hid)).scalar()
    pages: dict[str, Any] = (details or {}).get("fetched") or {}
    return pages


def read_completeness(conn: sa.Connection, hid: uuid.UUID) -> Completeness:
    """The pages fetch recorded, added up per endpoint (each endpoint's expected count: its first page's total)."""
    pages = recorded_pages(conn, hid)
    # every batch up to the last recorded one: a sync whose early pages a previous release fetched is unknown
    out = Completeness(known=bool(pages) and len(pages) == 1 + max(int(b) for b in pages))
    for batch in sorted(pages, key=int):
        endpoint, received, total, incremental = pages[batch]
        seen = out.endpoints.setdefault(endpoint, {"expected": total, "fetched": 0})
        seen["fetched"] = (seen["fetched"] or 0) + int(received)
        out.incremental = out.incremental or bool(incremental)
    return out
