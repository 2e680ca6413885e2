"""Archive work to ClickHouse: each owed batch inserted with its outbox key as deduplication token (a repeat
adds nothing to query results), then its sync_batches row marked archived in the same commit as the work."""
from __future__ import annotations

import uuid

from nexus_sync import db, metrics
from nexus_sync.archive import get_archive
from nexus_sync.errors import TransientError
from nexus_sync.outbox.drain import Outcome, Row, utcnow


def send(_target: str, rows: list[Row]) -> Outcome:
    out = Outcome()
    try:
        archive = get_archive()
        for row in rows:
            archive.insert_once(row.payload or [], row.key)
            out.done.append(row.id)
            if row.sync_hid is not None and row.batch_no is not None:
                sb = db.sync_batches.c
                out.also.append(db.sync_batches.update().where(
                    sb.sync_history_id == uuid.UUID(row.sync_hid), sb.batch_no == row.batch_no)
                    .values(archived_at=utcnow()))
            metrics.ARCHIVE_LAG.observe(max(0.0, (utcnow() - row.created_at).total_seconds()))
    except TransientError as exc:  # ClickHouse is away: the rest waits, PostgreSQL keeps it
        out.down = str(exc)
    return out
