"""gizmos things

Revision ID: g001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "g001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("gizmos_things", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("gizmos_things")
