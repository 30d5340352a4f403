"""measure: plans per year (draft/published), unit weights, counts and baselines
of targets, publications outside Lan Tỏa

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 04:05:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import core.types


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('measure_plan', schema=None) as batch_op:
        # plans loaded before this revision were in use: they are published
        batch_op.add_column(sa.Column('status', sa.String(length=10), server_default='published', nullable=False))
        batch_op.add_column(sa.Column('weights', sa.JSON(), server_default='{}', nullable=False))
    with op.batch_alter_table('measure_target', schema=None) as batch_op:
        batch_op.add_column(sa.Column('entry', sa.String(length=10), server_default='percent', nullable=False))
        batch_op.add_column(sa.Column('baseline', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('baseline_year', sa.Integer(), nullable=True))
    with op.batch_alter_table('measure_kpi_value', schema=None) as batch_op:
        batch_op.add_column(sa.Column('numerator', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('denominator', sa.Float(), nullable=True))
    op.create_table('measure_outside_publication',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('attachment_path', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('attachment_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('attachment_mime', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('published_on', sa.Date(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('entered_by', sa.Integer(), nullable=True),
    sa.Column('entered_at', core.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['entered_by'], ['user_account.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['org_unit.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('measure_outside_publication', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_measure_outside_publication_published_on'), ['published_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_measure_outside_publication_unit_id'), ['unit_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('measure_outside_publication', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_measure_outside_publication_unit_id'))
        batch_op.drop_index(batch_op.f('ix_measure_outside_publication_published_on'))
    op.drop_table('measure_outside_publication')
    with op.batch_alter_table('measure_kpi_value', schema=None) as batch_op:
        batch_op.drop_column('denominator')
        batch_op.drop_column('numerator')
    with op.batch_alter_table('measure_target', schema=None) as batch_op:
        batch_op.drop_column('baseline_year')
        batch_op.drop_column('baseline')
        batch_op.drop_column('entry')
    with op.batch_alter_table('measure_plan', schema=None) as batch_op:
        batch_op.drop_column('weights')
        batch_op.drop_column('status')
