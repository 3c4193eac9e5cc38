"""live instances of a type in list order

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 21:10:00

A page of a type's live instances (``ORDER BY created_at, id``) sorted every
live instance of the type: with 10,000 of them that sort was most of a list
request (``benchmarks/api.py``). A partial index in that order serves a page
by reading as many rows as it holds.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_instances_live_list_order",
        "instances",
        ["type_slug", "created_at", "id"],
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index("ix_instances_live_list_order", table_name="instances")
