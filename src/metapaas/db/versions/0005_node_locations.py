"""where a node is: its provider's location, and whether its provider evicts it

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 17:00:00

A node records where its provider placed it (a host's name on a provider with
hosts, "" where there is one place) and whether the provider wants it elsewhere.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(
            sa.Column("location", sa.String(length=63), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("evicted", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("evicted")
        batch.drop_column("location")
