"""node states owned by the orchestrator

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 10:00:00

Nodes gain ``started_at`` (when the provider was last asked to start one) and
the orchestrator's states ``PLANNED``/``STARTING``/``RUNNING``/``REPLACING``;
rows written as ``CREATING`` by earlier versions were handed to the provider
already, so they become ``STARTING``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("nodes", sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE nodes SET started_at = created_at")
    op.execute("UPDATE nodes SET state = 'STARTING' WHERE state IN ('CREATING', 'UNREACHABLE')")


def downgrade() -> None:
    op.execute("UPDATE nodes SET state = 'CREATING' WHERE state IN ('PLANNED', 'STARTING')")
    op.execute("UPDATE nodes SET state = 'UNREACHABLE' WHERE state = 'REPLACING'")
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("started_at")
