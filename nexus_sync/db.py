"""PostgreSQL tables (SQLAlchemy Core) and engine. The Alembic migrations create exactly these."""
from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = sa.MetaData()
now = sa.text("now()")

# -- the spec's tables, column for column ----------------------------------------
raw_data = sa.Table(
    "raw_data", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
    sa.Column("source", sa.String(255), nullable=False),
    sa.Column("type", sa.String(50), nullable=False),
    sa.Column("source_id", sa.String(500), nullable=False),
    sa.Column("hash", sa.String(32), nullable=False),
    sa.Column("data", JSONB, nullable=False),
    sa.Column("raw_data", JSONB, nullable=False),
    sa.Column("ingested_at", sa.DateTime, nullable=False),
    sa.Column("last_seen", sa.DateTime, nullable=False),
    sa.Column("created_at", sa.DateTime, server_default=now),
    sa.Column("updated_at", sa.DateTime, server_default=now),
    # set when a complete full sync of its connector did not see the row; cleared when it comes back (0005)
    sa.Column("missing_since", sa.DateTime),
    sa.UniqueConstraint("tenant_id", "source", "source_id", "type", name="uq_raw_data_identity"),
    sa.Index("ix_raw_data_tenant_type_last_seen", "tenant_id", "type", "last_seen"),
    sa.Index("ix_raw_data_hash", "hash"),
    sa.Index("ix_raw_data_ingested_at", "ingested_at"),
    sa.Index("ix_raw_data_missing", "tenant_id", "source", "missing_since",
             postgresql_where=sa.text("missing_since IS NOT NULL")),
)

sync_history = sa.Table(
    "sync_history", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
    sa.Column("connector_id", UUID(as_uuid=True), nullable=False),
    sa.Column("sync_id", sa.String(100), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("records_processed", sa.Integer, nullable=False),
    sa.Column("records_new", sa.Integer, nullable=False),
    sa.Column("records_updated", sa.Integer, nullable=False),
    sa.Column("errors_count", sa.Integer, nullable=False),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("error_details", JSONB),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("completed_at", sa.DateTime),
    sa.Column("next_sync_at", sa.DateTime),
    sa.Column("created_at", sa.DateTime, server_default=now),
    sa.Index("ix_sync_history_tenant_connector_started", "tenant_id", "connector_id", "started_at"),
)

# -- what the pipeline needs beside them -------------------------------------------
connectors = sa.Table(
    "connectors", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("interval", sa.String(50), nullable=False, server_default="1h"),
    sa.Column("priority", sa.String(10), nullable=False, server_default="NORMAL"),
    # non-secret settings only (base_url, page_size, ...); secrets live in the credential store
    sa.Column("config", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("created_at", sa.DateTime, server_default=now),
    sa.Column("updated_at", sa.DateTime, server_default=now),
)

connector_state = sa.Table(
    "connector_state", metadata,
    sa.Column("connector_id", UUID(as_uuid=True), sa.ForeignKey("connectors.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("stream", sa.String(100), primary_key=True),
    sa.Column("cursor", sa.Text),
    sa.Column("sync_id", sa.String(100)),
    sa.Column("updated_at", sa.DateTime, server_default=now),
)

# one row per batch (vendor page) of a sync, written in the same transaction as its rows:
# this is what makes persist exactly-once in its counts and lets notify know the sync is done.
sync_batches = sa.Table(
    "sync_batches", metadata,
    sa.Column("sync_history_id", UUID(as_uuid=True), sa.ForeignKey("sync_history.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("batch_no", sa.Integer, primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),  # PERSISTED | FAILED
    sa.Column("records", sa.Integer, nullable=False, server_default="0"),
    sa.Column("records_new", sa.Integer, nullable=False, server_default="0"),
    sa.Column("records_updated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("records_unchanged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("records_invalid", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_cursor", sa.Text),
    sa.Column("details", JSONB),
    sa.Column("persisted_at", sa.DateTime, server_default=now),
    sa.Column("archived_at", sa.DateTime),
)

# pipeline bookkeeping of a sync, 1:1 with sync_history (kept out of the spec's table)
sync_runs = sa.Table(
    "sync_runs", metadata,
    sa.Column("sync_history_id", UUID(as_uuid=True), sa.ForeignKey("sync_history.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("sync_run", sa.Integer, nullable=False),
    sa.Column("trigger", sa.String(20), nullable=False),
    sa.Column("pages_total", sa.Integer),  # known once the last page is fetched (or fetch failed)
    sa.Column("fetch_error", sa.Text),
    sa.Column("event_published_status", sa.String(20)),  # status the last published event announced
)

dead_letters = sa.Table(
    "dead_letters", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("task_name", sa.String(200), nullable=False),
    sa.Column("task_id", sa.String(100), nullable=False),
    sa.Column("args", JSONB, nullable=False),
    sa.Column("kwargs", JSONB, nullable=False),
    sa.Column("headers", JSONB),
    sa.Column("queue", sa.String(100)),
    sa.Column("connector_id", UUID(as_uuid=True)),
    sa.Column("sync_history_id", UUID(as_uuid=True)),
    sa.Column("exception_type", sa.String(200), nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("traceback", sa.Text),
    sa.Column("retries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed_at", sa.DateTime, nullable=False, server_default=now),
    sa.Column("replayed_at", sa.DateTime),
    sa.Column("replay_task_id", sa.String(100)),
    sa.UniqueConstraint("task_id", name="uq_dead_letters_task_id"),
    sa.Index("ix_dead_letters_failed_at", "failed_at"),
)


# risk records derived from HIGH/CRITICAL incidents (second spec, issue 5): nexus_sync/risks.py
risks = sa.Table(
    "risks", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
    sa.Column("source", sa.String(50), nullable=False),
    sa.Column("external_id", sa.String(500), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("impact", sa.Integer, nullable=False),
    sa.Column("probability", sa.Integer, nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("tags", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("created_at", sa.DateTime, nullable=False, server_default=now),
    sa.Column("updated_at", sa.DateTime, nullable=False, server_default=now),
    sa.UniqueConstraint("tenant_id", "source", "external_id", name="uq_risks_external"),
)


# -- issue 13: what changed, one machine many sources (migration 0005) -------------
# watched-field changes of UPDATED records, written with the persist, announced as record.changed at close
record_changes = sa.Table(
    "record_changes", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
    sa.Column("sync_history_id", UUID(as_uuid=True), sa.ForeignKey("sync_history.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("raw_data_id", UUID(as_uuid=True), nullable=False),
    sa.Column("source", sa.String(255), nullable=False),
    sa.Column("type", sa.String(50), nullable=False),
    sa.Column("source_id", sa.String(500), nullable=False),
    sa.Column("changes", JSONB, nullable=False),  # {field: {"before": …, "after": …}}
    sa.Column("severity", sa.SmallInteger),  # the record's 0-100 score after the change, for subscriber filters
    sa.Column("created_at", sa.DateTime, nullable=False, server_default=now),
    sa.UniqueConstraint("sync_history_id", "raw_data_id", name="uq_record_changes_sync_row"),
)

# one real asset or person; its rows from every source link to it through entity_links
entities = sa.Table(
    "entities", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # asset | user
    sa.Column("label", sa.String(500), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False, server_default=now),
    sa.Column("updated_at", sa.DateTime, nullable=False, server_default=now),
    sa.Index("ix_entities_tenant_kind", "tenant_id", "kind"),
)

# the strong keys an entity is known by (cloud instance id, serial, MAC, hostname+domain, email/UPN)
entity_keys = sa.Table(
    "entity_keys", metadata,
    sa.Column("tenant_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("key_type", sa.String(30), primary_key=True),
    sa.Column("key_value", sa.String(500), primary_key=True),
    sa.Column("entity_id", UUID(as_uuid=True), sa.ForeignKey("entities.id", ondelete="CASCADE"), nullable=False),
    sa.Index("ix_entity_keys_entity", "entity_id"),
)

# a row's entity, the key that matched and how sure the match is (the spec's metadata.confidence)
entity_links = sa.Table(
    "entity_links", metadata,
    sa.Column("raw_data_id", UUID(as_uuid=True), sa.ForeignKey("raw_data.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("entity_id", UUID(as_uuid=True), sa.ForeignKey("entities.id", ondelete="CASCADE"), nullable=False),
    sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
    sa.Column("matched_on", sa.String(30), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("linked_at", sa.DateTime, nullable=False, server_default=now),
    sa.Index("ix_entity_links_entity", "entity_id"),
)

# a vulnerability row's finding: the same CVE on the same entity from several scanners is one finding
finding_links = sa.Table(
    "finding_links", metadata,
    sa.Column("raw_data_id", UUID(as_uuid=True), sa.ForeignKey("raw_data.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
    sa.Column("entity_id", UUID(as_uuid=True), sa.ForeignKey("entities.id", ondelete="CASCADE"), nullable=False),
    sa.Column("cve", sa.String(30), nullable=False),
    sa.Column("linked_at", sa.DateTime, nullable=False, server_default=now),
    sa.Index("ix_finding_links_finding", "tenant_id", "entity_id", "cve"),
)


# -- issue 16: the outbox (migration 0006) -----------------------------------------
# work owed to the stores we only write to, written in the same transaction as the state that caused it
# (persist: the batch's archive rows; close: its Kafka events and webhook deliveries) and drained by the relay
# (nexus_sync.outbox). `key` is the work's stable id: the archive insert's deduplication token, the event id,
# the delivery id. The payload (zstd-compressed JSON) is dropped once the work is done.
outbox = sa.Table(
    "outbox", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),  # the order work is drained in
    sa.Column("target", sa.String(150), nullable=False),  # archive | kafka | webhook:<subscriber>
    sa.Column("key", UUID(as_uuid=True), nullable=False),
    sa.Column("connector_id", UUID(as_uuid=True), nullable=False),
    sa.Column("sync_history_id", UUID(as_uuid=True)),
    sa.Column("batch_no", sa.Integer),
    sa.Column("msg_key", sa.String(255)),  # kafka: the message key
    sa.Column("payload", sa.LargeBinary),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False, server_default=now),
    sa.Column("done_at", sa.DateTime),
    sa.UniqueConstraint("target", "key", name="uq_outbox_target_key"),
    sa.Index("ix_outbox_owed", "target", "id", postgresql_where=sa.text("done_at IS NULL")),
)

# one row per target the relay has found down: its backoff, and since when it is down (for `status`)
outbox_targets = sa.Table(
    "outbox_targets", metadata,
    sa.Column("target", sa.String(150), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("down_since", sa.DateTime),
    sa.Column("retry_at", sa.DateTime),
    sa.Column("last_error", sa.Text),
)

@lru_cache(maxsize=4)
def engine_for(url: str) -> sa.Engine:
    engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    _created.append(engine)
    return engine


def get_engine() -> sa.Engine:
    from nexus_sync.config import get_settings

    return engine_for(get_settings().db_url)


def reset_after_fork() -> None:
    """A forked pool child must not reuse the parent's sockets: drop inherited pooled connections."""
    for engine in _engines():
        engine.dispose(close=False)


def _engines() -> list[sa.Engine]:
    # lru_cache keeps no public view of its values; track them as they are created
    return list(_created)


_created: list[sa.Engine] = []
