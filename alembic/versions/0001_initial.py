"""initial schema: the spec's raw_data and sync_history, plus connectors, cursors, batches, dead letters

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "raw_data",
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
        sa.Column("created_at", sa.DateTime, server_default=NOW),
        sa.Column("updated_at", sa.DateTime, server_default=NOW),
        sa.UniqueConstraint("tenant_id", "source", "source_id", "type", name="uq_raw_data_identity"),
    )
    op.create_index("ix_raw_data_tenant_type_last_seen", "raw_data", ["tenant_id", "type", "last_seen"])
    op.create_index("ix_raw_data_hash", "raw_data", ["hash"])
    op.create_index("ix_raw_data_ingested_at", "raw_data", ["ingested_at"])

    op.create_table(
        "sync_history",
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
        sa.Column("created_at", sa.DateTime, server_default=NOW),
    )
    op.create_index("ix_sync_history_tenant_connector_started", "sync_history",
                    ["tenant_id", "connector_id", "started_at"])

    op.create_table(
        "connectors",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("interval", sa.String(50), nullable=False, server_default="1h"),
        sa.Column("priority", sa.String(10), nullable=False, server_default="NORMAL"),
        sa.Column("config", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime, server_default=NOW),
        sa.Column("updated_at", sa.DateTime, server_default=NOW),
    )

    op.create_table(
        "connector_state",
        sa.Column("connector_id", UUID(as_uuid=True), sa.ForeignKey("connectors.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("stream", sa.String(100), primary_key=True),
        sa.Column("cursor", sa.Text),
        sa.Column("sync_id", sa.String(100)),
        sa.Column("updated_at", sa.DateTime, server_default=NOW),
    )

    op.create_table(
        "sync_batches",
        sa.Column("sync_history_id", UUID(as_uuid=True),
                  sa.ForeignKey("sync_history.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("batch_no", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("records", sa.Integer, nullable=False, server_default="0"),
        sa.Column("records_new", sa.Integer, nullable=False, server_default="0"),
        sa.Column("records_updated", sa.Integer, nullable=False, server_default="0"),
        sa.Column("records_unchanged", sa.Integer, nullable=False, server_default="0"),
        sa.Column("records_invalid", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_cursor", sa.Text),
        sa.Column("details", JSONB),
        sa.Column("persisted_at", sa.DateTime, server_default=NOW),
        sa.Column("archived_at", sa.DateTime),
    )

    op.create_table(
        "sync_runs",
        sa.Column("sync_history_id", UUID(as_uuid=True),
                  sa.ForeignKey("sync_history.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("sync_run", sa.Integer, nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("pages_total", sa.Integer),
        sa.Column("fetch_error", sa.Text),
        sa.Column("event_published_status", sa.String(20)),
    )

    op.create_table(
        "dead_letters",
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
        sa.Column("failed_at", sa.DateTime, nullable=False, server_default=NOW),
        sa.Column("replayed_at", sa.DateTime),
        sa.Column("replay_task_id", sa.String(100)),
        sa.UniqueConstraint("task_id", name="uq_dead_letters_task_id"),
    )
    op.create_index("ix_dead_letters_failed_at", "dead_letters", ["failed_at"])


def downgrade() -> None:
    for table in ("dead_letters", "sync_runs", "sync_batches", "connector_state", "connectors", "sync_history", "raw_data"):
        op.drop_table(table)
