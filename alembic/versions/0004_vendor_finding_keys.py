"""Rows take the vendor's own record identity where it changed (fidelity issue): Splunk notables are keyed
by `event_id` (was index:_cd, which repeats across a cluster's indexers), Security Hub findings by
`Id|ProductArn` (an Id is unique only within its product).

Rows whose new key would collide (the same notable stored twice under two old keys) keep the most recently
updated one; the next sync brings the vendor's current record anyway. Downgrade restores the old keys.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""
import sqlalchemy as sa

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# (connector type, the new key from the stored vendor record, a guard that the row still has an old key)
REKEYS = (
    ("splunk", "r.raw_data->>'event_id'", "r.raw_data ? 'event_id' AND r.source_id <> r.raw_data->>'event_id'"),
    ("securityhub", "r.source_id || '|' || (r.raw_data->>'ProductArn')",
     "r.raw_data ? 'ProductArn' AND position('|' in r.source_id) = 0"),
)


def _rekey(vendor: str, new_key: str, guard: str) -> None:
    rows = f"""
      SELECT r.id, {new_key} AS new_id, r.tenant_id, r.source, r.type, r.updated_at
      FROM raw_data r JOIN connectors c ON c.name = r.source AND c.tenant_id = r.tenant_id
      WHERE c.type = '{vendor}' AND {guard}"""
    # one row per new key: the latest; the others (and any row already under the new key) are stale copies
    op.execute(sa.text(f"""
WITH moving AS ({rows}),
keep AS (SELECT DISTINCT ON (tenant_id, source, type, new_id) id, new_id FROM moving
         ORDER BY tenant_id, source, type, new_id, updated_at DESC, id)
DELETE FROM raw_data d USING moving m
WHERE d.id = m.id AND (d.id NOT IN (SELECT id FROM keep) OR EXISTS (
  SELECT 1 FROM raw_data o WHERE o.tenant_id = m.tenant_id AND o.source = m.source AND o.type = m.type
    AND o.source_id = m.new_id))"""))
    op.execute(sa.text(f"""
WITH moving AS ({rows})
UPDATE raw_data d SET source_id = m.new_id FROM moving m WHERE d.id = m.id"""))


def upgrade() -> None:
    for vendor, new_key, guard in REKEYS:
        _rekey(vendor, new_key, guard)


def downgrade() -> None:
    op.execute(sa.text("""
UPDATE raw_data r SET source_id = r.raw_data->>'_cd'
FROM connectors c WHERE c.name = r.source AND c.tenant_id = r.tenant_id AND c.type = 'splunk'
  AND r.raw_data ? '_cd'"""))
    op.execute(sa.text("""
UPDATE raw_data r SET source_id = split_part(r.source_id, '|', 1)
FROM connectors c WHERE c.name = r.source AND c.tenant_id = r.tenant_id AND c.type = 'securityhub'
  AND position('|' in r.source_id) > 0"""))
