"""citizens' assistant: knowledge-base entries and questions (handoff inbox)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:22:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import core.types


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'assistant_entry',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column('questions', sa.JSON(), nullable=False),
        sa.Column('answer', sa.Text(), nullable=False),
        sa.Column('answer_km', sa.Text(), nullable=True),
        sa.Column('links', sa.JSON(), nullable=False),
        sa.Column('unit_code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column('valid_from', sa.Date(), nullable=True),
        sa.Column('valid_to', sa.Date(), nullable=True),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('updated_at', core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('updated_by', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['updated_by'], ['user_account.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    op.create_table(
        'assistant_question',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_at', core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('sender', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column('question', sa.Text(), nullable=False),
        sa.Column('secret_masked', sa.Boolean(), nullable=False),
        sa.Column('entry_id', sa.Integer(), nullable=True),
        sa.Column('confidence', sa.Float(), nullable=False),
        sa.Column('handoff', sa.Boolean(), nullable=False),
        sa.Column('unit_code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('reply', sa.Text(), nullable=True),
        sa.Column('reply_error', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column('replied_by', sa.Integer(), nullable=True),
        sa.Column('replied_at', core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('purge_after', sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(['entry_id'], ['assistant_entry.id']),
        sa.ForeignKeyConstraint(['replied_by'], ['user_account.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_assistant_question_created_at', 'assistant_question', ['created_at'])
    op.create_index('ix_assistant_question_handoff', 'assistant_question', ['handoff'])


def downgrade() -> None:
    op.drop_index('ix_assistant_question_handoff', table_name='assistant_question')
    op.drop_index('ix_assistant_question_created_at', table_name='assistant_question')
    op.drop_table('assistant_question')
    op.drop_table('assistant_entry')
