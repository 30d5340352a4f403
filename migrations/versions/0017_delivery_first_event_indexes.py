"""delivery: partial indexes for the measure dashboard's first events (PostgreSQL)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 09:40:00

The dashboard needs, per year, the first sent post and the first confirmed
broadcast of every (channel account, unit) pair. With these two partial
indexes PostgreSQL finds them by a few hundred index probes instead of reading
the year's deliveries (campaigns/measure/compute.py, ``_first_events_pg``).
SQLite scans the year instead: nothing to do there.
"""
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_delivery_first_sent ON delivery "
        "(channel_account_id, (coalesce(unit_id, 0)), (coalesce(sent_at, updated_at))) "
        "WHERE status = 'sent'"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_delivery_first_confirmed ON delivery "
        "(channel_account_id, (coalesce(unit_id, 0)), confirmed_at) "
        "WHERE confirmed_at IS NOT NULL"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_delivery_first_confirmed")
    op.execute("DROP INDEX IF EXISTS ix_delivery_first_sent")
