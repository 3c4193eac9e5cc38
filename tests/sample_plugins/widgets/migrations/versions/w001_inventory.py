"""widgets inventory

Revision ID: w001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "w001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "widgets_inventory",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("label", sa.String(63), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("widgets_inventory")
