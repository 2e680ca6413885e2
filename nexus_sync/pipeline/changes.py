"""Change-aware events: an UPDATED record whose watched fields (models: each kind's WATCHED) changed gets a
`record_changes` row in its persist's transaction — before/after of those fields, its 0-100 severity after the
change — and at the sync's close each such row is owed once as a `record.changed` event (nexus_sync.outbox): to Kafka
(NEXUS_CHANGES_TOPIC, key = the record id) and to the webhook subscribers that list it and whose filters
(kinds, fields, min_severity: nexus_sync.webhooks) let it through. A re-sync of unchanged data writes no
row, so it emits nothing; a batch without UPDATED rows runs no query at all (persisting calls `record` only
for rows it upserts)."""
from __future__ import annotations

import uuid
from typing import Any, Iterator

import sqlalchemy as sa

from nexus_sync import db, webhooks
from nexus_sync.models import DATA_MODELS
from nexus_sync.pipeline.context import SyncContext
from nexus_sync.pipeline.ids import iso, uuid5_text
from nexus_sync.severity import label

# event ids are uuid5(CHANGES_NS, "<sync>:<row id>"): the same change of the same sync is the same event
CHANGES_NS = uuid.UUID("5c1e2a90-7d4b-4c0e-8f3a-6368616e6765")
CHUNK = 5000  # change rows read and published at a time

# Run in persist's transaction just before its upsert, while raw_data still holds the stored version of each
# row about to be overwritten (persist_rows: the rows being upserted, the ones PostgreSQL refused already left
# out). A record changed twice in one sync (it moved between pages) keeps its first before and last after.
RECORD_SQL = """
INSERT INTO record_changes (tenant_id, sync_history_id, raw_data_id, source, type, source_id, changes, severity)
SELECT r.tenant_id, %(sync)s, r.id, r.source, r.type, r.source_id, d.changes,
       (p.data ->> 'severity_score')::smallint
FROM persist_rows p
JOIN raw_data r ON r.source_id = p.source_id
  AND r.tenant_id = %(tenant)s AND r.source = %(source)s AND r.type = %(kind)s AND r.source_id = ANY(%(sids)s)
CROSS JOIN LATERAL (
  SELECT jsonb_object_agg(f, jsonb_build_object('before', r.data -> f, 'after', p.data -> f)) AS changes
  FROM unnest(%(fields)s::text[]) AS f
  WHERE coalesce(r.data -> f, 'null') IS DISTINCT FROM coalesce(p.data -> f, 'null')
) d
WHERE d.changes IS NOT NULL
ON CONFLICT (sync_history_id, raw_data_id) DO UPDATE SET
  changes = record_changes.changes || (
    SELECT jsonb_object_agg(k, jsonb_build_object(
      'before', coalesce(record_changes.changes -> k -> 'before', v -> 'before'), 'after', v -> 'after'))
    FROM jsonb_each(EXCLUDED.changes) AS e(k, v)),
  severity = EXCLUDED.severity
"""


def record(cur: Any, ctx: SyncContext, kind: str) -> None:
    """The batch's changes of watched fields, from the rows persist is about to upsert (see RECORD_SQL)."""
    watched = DATA_MODELS[kind].WATCHED
    if not watched:  # events watch nothing: no query
        return
    # the row keys as one constant array, as dedup reads them: joined on persist_rows alone (no statistics, and
    # raw_data's older than its newest rows) the planner scanned the connector's whole range once per row —
    # 0.43 s per 1,000 updated rows, against ~20 ms this way (3,000 CrowdStrike hosts, all changed)
    cur.execute("SELECT source_id FROM persist_rows")
    sids = [sid for (sid,) in cur.fetchall()]
    cur.execute(RECORD_SQL, {"sync": str(ctx.sync_hid), "fields": list(watched), "kind": kind, "sids": sids,
                             "tenant": str(ctx.connector.tenant_id), "source": ctx.source})


def events(conn: sa.Connection, ctx: SyncContext, sync_id: str) -> Iterator[list[dict[str, Any]]]:
    """The sync's change rows as `record.changed` events, CHUNK at a time, in the order they were written (owed
    at its close: pipeline.owing)."""
    rc = db.record_changes.c
    prefix = CHANGES_NS.bytes + f"{ctx.sync_hid}:".encode()
    after = 0
    while True:
        rows = conn.execute(db.record_changes.select().where(rc.sync_history_id == ctx.sync_hid, rc.id > after)
                            .order_by(rc.id).limit(CHUNK)).all()
        if not rows:
            return
        yield [{
            "event_type": webhooks.RECORD_CHANGED, "event_id": uuid5_text(prefix, str(r.raw_data_id)),
            "connector": ctx.connector.name, "connector_id": str(ctx.connector.id), "sync_id": sync_id,
            "tenant_id": str(r.tenant_id), "kind": r.type, "source_id": r.source_id, "record_id": str(r.raw_data_id),
            "changes": r.changes, "severity": r.severity, "severity_label": label(r.severity or 0),
            "timestamp": iso(r.created_at),
        } for r in rows]
        after = rows[-1].id
