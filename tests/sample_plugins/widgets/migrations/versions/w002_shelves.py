"""widgets shelves

Revision ID: w002
Revises: w001
"""

import sqlalchemy as sa
from alembic import op

revision = "w002"
down_revision = "w001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "widgets_shelves",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("inventory_id", sa.Integer(), sa.ForeignKey("widgets_inventory.id")),
    )


def downgrade() -> None:
    op.drop_table("widgets_shelves")
