"""What a security team asks of synced records (issue 13): is it gone, what changed, is it the same machine.

- raw_data.missing_since: set on the rows a complete full sync did not see, cleared when they come back;
- record_changes: the watched-field changes of UPDATED records, written in the persist transaction and
  announced (`record.changed`) when the sync closes;
- entities / entity_keys / entity_links: one real asset (or person) linked to its rows from every source,
  matched on strong keys, each link with its confidence;
- finding_links: the same CVE on the same entity from several scanners is one finding.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.add_column("raw_data", sa.Column("missing_since", sa.DateTime))
    op.create_index("ix_raw_data_missing", "raw_data", ["tenant_id", "source", "missing_since"],
                    postgresql_where=sa.text("missing_since IS NOT NULL"))
    op.create_table(
        "record_changes",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("sync_history_id", UUID(as_uuid=True), sa.ForeignKey("sync_history.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("raw_data_id", UUID(as_uuid=True), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("type", sa.String(50), nullable=False),
        sa.Column("source_id", sa.String(500), nullable=False),
        sa.Column("changes", JSONB, nullable=False),
        sa.Column("severity", sa.SmallInteger),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=NOW),
        sa.UniqueConstraint("sync_history_id", "raw_data_id", name="uq_record_changes_sync_row"),
    )
    op.create_table(
        "entities",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("label", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False, server_default=NOW),
        sa.Column("updated_at", sa.DateTime, nullable=False, server_default=NOW),
    )
    op.create_index("ix_entities_tenant_kind", "entities", ["tenant_id", "kind"])
    op.create_table(
        "entity_keys",
        sa.Column("tenant_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("key_type", sa.String(30), primary_key=True),
        sa.Column("key_value", sa.String(500), primary_key=True),
        sa.Column("entity_id", UUID(as_uuid=True), sa.ForeignKey("entities.id", ondelete="CASCADE"),
                  nullable=False),
    )
    op.create_index("ix_entity_keys_entity", "entity_keys", ["entity_id"])
    op.create_table(
        "entity_links",
        sa.Column("raw_data_id", UUID(as_uuid=True), sa.ForeignKey("raw_data.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("entity_id", UUID(as_uuid=True), sa.ForeignKey("entities.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("matched_on", sa.String(30), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("linked_at", sa.DateTime, nullable=False, server_default=NOW),
    )
    op.create_index("ix_entity_links_entity", "entity_links", ["entity_id"])
    op.create_table(
        "finding_links",
        sa.Column("raw_data_id", UUID(as_uuid=True), sa.ForeignKey("raw_data.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("tenant_id", UUID(as_uuid=True), nullable=False),
        sa.Column("entity_id", UUID(as_uuid=True), sa.ForeignKey("entities.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("cve", sa.String(30), nullable=False),
        sa.Column("linked_at", sa.DateTime, nullable=False, server_default=NOW),
    )
    op.create_index("ix_finding_links_finding", "finding_links", ["tenant_id", "entity_id", "cve"])


def downgrade() -> None:
    op.drop_table("finding_links")
    op.drop_table("entity_links")
    op.drop_table("entity_keys")
    op.drop_table("entities")
    op.drop_table("record_changes")
    op.drop_index("ix_raw_data_missing", table_name="raw_data")
    op.drop_column("raw_data", "missing_since")
