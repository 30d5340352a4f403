"""measure_feedback.language: the language of the public form the citizen used

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 10:40:00

Feedback sent through the Khmer form (``/y-kien?lang=km``) is marked for staff. Forms sent
before this revision were all taken as Vietnamese ones ("vi").
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("measure_feedback") as batch:
        batch.add_column(sa.Column("language", sa.String(length=5), nullable=False, server_default="vi"))


def downgrade() -> None:
    with op.batch_alter_table("measure_feedback") as batch:
        batch.drop_column("language")
