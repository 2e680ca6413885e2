"""Work the release before the outbox (migration 0006) left in flight. Its persist kept a batch's page staged
in Redis for an `archive` task, which archived the batch and, after the last one, started notify. A worker of
this release that takes such a task makes the batch's archive owed work in the outbox, from the page still
staged, exactly as persist owes it today; the relay then archives it once."""
from __future__ import annotations

import logging
from contextlib import closing

import sqlalchemy as sa

from nexus_sync import db, staging
from nexus_sync.errors import StagedBatchMissing
from nexus_sync.outbox.store import ARCHIVE, archive_key
from nexus_sync.pipeline.context import load
from nexus_sync.pipeline.ledger import staged, staged_norm, staged_rows
from nexus_sync.pipeline.owing import owe_archive

log = logging.getLogger(__name__)


def owe_staged_archive(sync_hid: str, batch_no: int) -> bool:
    """The batch's archive owed from its staged page; False when there is nothing to owe (not persisted, owed
    already, archived by the previous release) or the page is gone (logged: those rows stay unarchived)."""
    ctx = load(sync_hid)
    sb, ob = db.sync_batches.c, db.outbox.c
    with db.get_engine().connect() as conn:
        batch = conn.execute(sa.select(sb.status, sb.archived_at, sb.details).where(
            sb.sync_history_id == ctx.sync_hid, sb.batch_no == batch_no)).first()
        owed = conn.execute(sa.select(ob.key).where(
            ob.target == ARCHIVE, ob.key == archive_key(sync_hid, batch_no))).first()
    if batch is None or batch.status != "PERSISTED" or batch.archived_at is not None or owed is not None:
        return False
    try:
        norm = staged_norm(sync_hid, batch_no)
        classes = staged(sync_hid, batch_no, "dedup")["classes"]
        lines = staged_rows(sync_hid, batch_no, norm)
    except StagedBatchMissing:
        log.error("batch persisted before the upgrade cannot be archived: its staged page is gone",
                  extra={"sync_hid": sync_hid, "batch_no": batch_no, "connector": ctx.connector.name})
        return False
    refused = {int(i): "" for i in (batch.details or {}).get("refused", [])}
    raw = db.get_engine().raw_connection()
    try:
        with closing(raw.cursor()) as cur:
            owe_archive(cur, ctx, batch_no, norm, classes, lines, refused)
        raw.commit()
    finally:
        raw.close()
    staging.drop(sync_hid, batch_no)
    return True
