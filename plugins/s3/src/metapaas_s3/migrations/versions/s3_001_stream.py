"""s3: the plugin's own migration stream starts here, with no table.

Buckets and access keys are child resources, kept in the core tables; the
engine keeps objects on the node's disk. Nothing of the type needs a table of
its own yet, so this first revision only opens the stream (and its version
table ``s3_alembic_version``); later revisions add ``s3_``-prefixed tables.

Revision ID: s3_001
Revises:
"""

revision = "s3_001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """No table: see the module docstring."""


def downgrade() -> None:
    """No table to drop."""
