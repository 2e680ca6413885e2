"""Archive one batch now: its owed archive work (written by persist) sent to ClickHouse at once, as the outbox
relay does for every batch in the background; for the tests and the bench, which archive in-process."""
from __future__ import annotations

from nexus_sync.outbox.relay import archive_batch
from nexus_sync.pipeline.ledger import sync_finished


def archive(sync_hid: str, batch_no: int) -> tuple[dict[str, int], bool]:
    """Send the batch's owed archive work; returns (counts, sync finished?)."""
    return {"archived_batches": archive_batch(sync_hid, batch_no)}, sync_finished(sync_hid)
