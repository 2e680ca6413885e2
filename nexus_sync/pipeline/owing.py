"""What a sync owes downstream (nexus_sync.outbox), written in the transaction of the state that caused it:
a persisted batch's new and updated rows as they will be archived (persist), and a closed sync's
announcements — its `records.lifecycle` parts, its `connector.sync.complete` event, its alerts and its
`record.changed` events, each to Kafka and to every webhook subscriber that takes it (close)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from nexus_sync import alerts, webhooks
from nexus_sync.archive import archive_row
from nexus_sync.config import get_settings
from nexus_sync.events import sync_complete_event
from nexus_sync.outbox.store import ARCHIVE, Owed, announcement, archive_key, event_id, owe, owe_with_cursor
from nexus_sync.pipeline import changes as record_changes
from nexus_sync.pipeline import lifecycle
from nexus_sync.pipeline.context import SyncContext
from nexus_sync.pipeline.ids import ARCHIVE_NS, iso, uuid5_text
from nexus_sync.pipeline.ledger import UNCHANGED


def owe_archive(cur: Any, ctx: SyncContext, batch_no: int, norm: dict[str, Any], classes: str,
                lines: list[bytes], refused: dict[int, str]) -> None:
    """In persist's transaction: the batch's new and updated rows (not those PostgreSQL refused), as archive
    rows with ids derived from the sync, owed to the archive."""
    changed = [i for i, c in enumerate(classes) if c != UNCHANGED and i not in refused]
    if not changed:
        return
    ingested = datetime.fromisoformat(norm["fetched_at"].rstrip("Z"))
    tenant, source, kind, sids = str(ctx.connector.tenant_id), ctx.source, norm["kind"], norm["sid"]
    prefix = ARCHIVE_NS.bytes + f"{ctx.sync_hid}:".encode()
    rows = [archive_row(uuid5_text(prefix, sids[i]), tenant, source, kind, lines[i].split(b"\t", 1)[0], ingested)
            for i in changed]
    owe_with_cursor(cur, Owed(ARCHIVE, archive_key(str(ctx.sync_hid), batch_no), str(ctx.connector.id), rows,
                              str(ctx.sync_hid), batch_no))


def owe_announcements(conn: sa.Connection, ctx: SyncContext, report: dict[str, Any],
                      changes: lifecycle.Changes, completed: datetime) -> dict[str, Any]:
    """In the close's transaction: everything the close announces, owed; returns the sync's event. Event ids
    derive from the sync and its status, so a close repeated with the same outcome owes nothing new."""
    s = get_settings()
    subs = webhooks.load(s.webhooks_file)
    hid, cid, status = str(ctx.sync_hid), str(ctx.connector.id), report["status"]
    records = report["records"]
    event = sync_complete_event(
        sync_id=ctx.sync_id, connector_id=cid, tenant_id=str(ctx.connector.tenant_id), status=status,
        new=records["new"], updated=records["updated"], touched=records["unchanged"],
        duration_ms=report["duration_ms"], errors=report["errors"], timestamp=iso(completed),
        event_id=event_id(hid, "connector.sync.complete", status))
    parts = [{"event_id": event_id(hid, lifecycle.EVENT_TYPE, status, str(p["part"])), **p}
             for p in lifecycle.events(ctx, changes, iso(completed))]
    # on Kafka the lifecycle parts go first (a consumer of the sync's event then has them); a webhook
    # subscriber gets the sync's event first, then the parts, as before the outbox
    sync_event = announcement(s.kafka_topic, cid, event, cid, hid, subs)
    part_events = [announcement(s.lifecycle_topic, cid, p, cid, hid, subs) for p in parts]
    work = [w[0] for w in part_events] + sync_event[:1] + sync_event[1:] + [x for w in part_events for x in w[1:]]
    owe(conn, work + alerts.owed_alerts(report, subs))
    for chunk in record_changes.events(conn, ctx, report["sync_id"]):
        owe(conn, [w for e in chunk for w in announcement(s.changes_topic, e["record_id"], e, cid, hid, subs)])
    return event
