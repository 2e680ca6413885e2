"""Archive: a persisted batch's new and updated records appended to ClickHouse, once; then its staging goes."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from nexus_sync import db, staging
from nexus_sync.archive import archive_row, get_archive
from nexus_sync.pipeline.context import batch_stage, load
from nexus_sync.pipeline.ids import ARCHIVE_NS, utcnow, uuid5_text
from nexus_sync.pipeline.ledger import UNCHANGED, finished, staged, staged_norm, staged_rows


@batch_stage
def archive(sync_hid: str, batch_no: int) -> tuple[dict[str, int], bool]:
    """Append the batch's new and updated records to ClickHouse; returns (counts, sync finished?)."""
    ctx = load(sync_hid)
    sb = db.sync_batches.c
    where = sa.and_(sb.sync_history_id == ctx.sync_hid, sb.batch_no == batch_no)
    with db.get_engine().connect() as conn:
        batch = conn.execute(sa.select(sb.archived_at, sb.details).where(where)).first()
    if batch is not None and batch.archived_at is not None:
        return {"skipped": 1}, finished(ctx)
    refused = set(((batch.details if batch else None) or {}).get("refused", []))  # never stored: never archived
    norm = staged_norm(sync_hid, batch_no)
    classes = staged(sync_hid, batch_no, "dedup")["classes"]
    ingested = datetime.fromisoformat(norm["fetched_at"].rstrip("Z"))
    changed = [i for i, c in enumerate(classes) if c != UNCHANGED and i not in refused]
    lines = staged_rows(sync_hid, batch_no, norm) if changed else []
    tenant, source, kind, sids = str(ctx.connector.tenant_id), ctx.source, norm["kind"], norm["sid"]
    prefix = ARCHIVE_NS.bytes + f"{sync_hid}:".encode()
    rows = [archive_row(uuid5_text(prefix, sids[i]), tenant, source, kind, lines[i].split(b"\t", 1)[0], ingested)
            for i in changed]
    inserted = get_archive().insert_new(rows)
    with db.get_engine().begin() as conn:
        conn.execute(db.sync_batches.update().where(where).values(archived_at=utcnow()))
    staging.drop(sync_hid, batch_no)
    return {"archived": inserted}, finished(ctx)
