"""Khmer: units where the plan's Khmer communication applies, recorded Khmer readings

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 06:30:00
"""
from alembic import op
import sqlalchemy as sa
import core.types

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('org_unit') as batch:
        batch.add_column(sa.Column('uses_khmer', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column('khmer_share', sa.Integer(), nullable=True))
    op.create_table(
        'khmer_reading',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=True),
        sa.Column('path', sa.String(length=500), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('duration_s', sa.Float(), nullable=False),
        sa.Column('lufs', sa.Float(), nullable=True),
        sa.Column('true_peak', sa.Float(), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('original_name', sa.String(length=255), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=True),
        sa.Column('created_at', core.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id']),
        sa.ForeignKeyConstraint(['unit_id'], ['org_unit.id']),
        sa.ForeignKeyConstraint(['item_id'], ['content_item.id']),
        sa.ForeignKeyConstraint(['created_by'], ['user_account.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_khmer_reading_campaign_id', 'khmer_reading', ['campaign_id'])
    op.create_index('ix_khmer_reading_unit_id', 'khmer_reading', ['unit_id'])
    op.create_index('ix_khmer_reading_item_id', 'khmer_reading', ['item_id'])


def downgrade() -> None:
    op.drop_index('ix_khmer_reading_item_id', table_name='khmer_reading')
    op.drop_index('ix_khmer_reading_unit_id', table_name='khmer_reading')
    op.drop_index('ix_khmer_reading_campaign_id', table_name='khmer_reading')
    op.drop_table('khmer_reading')
    with op.batch_alter_table('org_unit') as batch:
        batch.drop_column('khmer_share')
        batch.drop_column('uses_khmer')
