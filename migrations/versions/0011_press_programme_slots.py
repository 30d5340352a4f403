"""press and broadcasters' programme slots

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 04:42:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import core.types

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('press_programme_slot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('brief', sa.Text(), nullable=False),
    sa.Column('asset_ids', sa.JSON(), nullable=False),
    sa.Column('air_on', sa.Date(), nullable=False),
    sa.Column('air_time', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
    sa.Column('series', sa.String(length=32), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('evidence_url', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('attachment_path', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('attachment_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('attachment_mime', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('confirmed_by', sa.Integer(), nullable=True),
    sa.Column('confirmed_at', core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', core.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['confirmed_by'], ['user_account.id'], ),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['org_unit.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('press_programme_slot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_press_programme_slot_air_on'), ['air_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_press_programme_slot_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_press_programme_slot_series'), ['series'], unique=False)
        batch_op.create_index(batch_op.f('ix_press_programme_slot_unit_id'), ['unit_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('press_programme_slot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_press_programme_slot_unit_id'))
        batch_op.drop_index(batch_op.f('ix_press_programme_slot_series'))
        batch_op.drop_index(batch_op.f('ix_press_programme_slot_campaign_id'))
        batch_op.drop_index(batch_op.f('ix_press_programme_slot_air_on'))
    op.drop_table('press_programme_slot')
