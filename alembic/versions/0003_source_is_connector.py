"""raw_data.source is the connector's name, not its type (security issue, finding 8; DESIGN §9)

Two connectors of one type in one tenant used to share `source` = type, so each overwrote the other's rows.
Existing rows are given the name of the connector that wrote them: the only connector of that type in the
tenant, or — where there were several and their rows were already mixed — the one with the latest
successful sync (it wrote last); the other's next full sync brings its own rows back. The identity hash
(`hash`) keeps the type, so no row changes identity and the dedup cache stays valid.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""
import sqlalchemy as sa

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OWNERS = """
WITH owner AS (
  SELECT DISTINCT ON (c.tenant_id, c.type) c.tenant_id, c.type, c.name
  FROM connectors c
  LEFT JOIN LATERAL (SELECT max(h.completed_at) AS last FROM sync_history h
                     WHERE h.connector_id = c.id AND h.status IN ('SUCCESS', 'PARTIAL')) s ON true
  ORDER BY c.tenant_id, c.type, s.last DESC NULLS LAST, c.name
)
"""


def upgrade() -> None:
    op.execute(sa.text(OWNERS + """
UPDATE raw_data r SET source = o.name FROM owner o
WHERE r.tenant_id = o.tenant_id AND r.source = o.type AND o.name <> o.type"""))


def downgrade() -> None:
    # back to the type; where two connectors of one type hold a row of the same record, the newer row stays
    op.execute(sa.text("""
DELETE FROM raw_data r USING raw_data o, connectors c1, connectors c2
WHERE r.tenant_id = c1.tenant_id AND r.source = c1.name AND o.tenant_id = c2.tenant_id AND o.source = c2.name
  AND c1.tenant_id = c2.tenant_id AND c1.type = c2.type AND c1.id <> c2.id
  AND r.type = o.type AND r.source_id = o.source_id AND (o.updated_at, o.id) > (r.updated_at, r.id)"""))
    op.execute(sa.text("""
UPDATE raw_data r SET source = c.type FROM connectors c
WHERE r.tenant_id = c.tenant_id AND r.source = c.name AND c.name <> c.type"""))
