"""Outages of what we write to (issue 16): the outbox of work owed to ClickHouse, Kafka and webhook
subscribers, written in the transaction of the state that caused it and drained by the relay
(nexus_sync.outbox), and the relay's view of each target (backoff, down since).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("target", sa.String(150), nullable=False),
        sa.Column("key", UUID(as_uuid=True), nullable=False),
        sa.Column("connector_id", UUID(as_uuid=True), nullable=False),
        sa.Column("sync_history_id", UUID(as_uuid=True)),
        sa.Column("batch_no", sa.Integer),
        sa.Column("msg_key", sa.String(255)),
        sa.Column("payload", sa.LargeBinary),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=NOW),
        sa.Column("done_at", sa.DateTime),
        sa.UniqueConstraint("target", "key", name="uq_outbox_target_key"),
    )
    op.create_index("ix_outbox_owed", "outbox", ["target", "id"], postgresql_where=sa.text("done_at IS NULL"))
    op.create_table(
        "outbox_targets",
        sa.Column("target", sa.String(150), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("down_since", sa.DateTime),
        sa.Column("retry_at", sa.DateTime),
        sa.Column("last_error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("outbox_targets")
    op.drop_index("ix_outbox_owed", table_name="outbox")
    op.drop_table("outbox")
