"""a prefixed table, then one without the prefix

Revision ID: s001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "s001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("stray_ok", sa.Column("id", sa.Integer(), primary_key=True))
    op.create_table("inventory", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("inventory")
    op.drop_table("stray_ok")
