"""community digital-technology teams and visits

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 04:40:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import core.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('team',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('hamlets', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', core.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['unit_id'], ['org_unit.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('team', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_unit_id'), ['unit_id'], unique=False)

    op.create_table('team_member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id')
    )
    with op.batch_alter_table('team_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_member_team_id'), ['team_id'], unique=False)

    op.create_table('team_visit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=36), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('hamlet', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('household_label', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
    sa.Column('people', sa.JSON(), nullable=False),
    sa.Column('receipt_path', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('follow_up_on', sa.Date(), nullable=True),
    sa.Column('visited_at', core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_at', core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('conflict_with', sa.Integer(), nullable=True),
    sa.Column('purged_at', core.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], ),
    sa.ForeignKeyConstraint(['unit_id'], ['org_unit.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_id')
    )
    with op.batch_alter_table('team_visit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_visit_team_id'), ['team_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_team_visit_unit_id'), ['unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_team_visit_visited_at'), ['visited_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('team_visit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_visit_visited_at'))
        batch_op.drop_index(batch_op.f('ix_team_visit_unit_id'))
        batch_op.drop_index(batch_op.f('ix_team_visit_team_id'))

    op.drop_table('team_visit')
    with op.batch_alter_table('team_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_member_team_id'))

    op.drop_table('team_member')
    with op.batch_alter_table('team', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_unit_id'))

    op.drop_table('team')
