"""postgres: the stream's first revision creates no table.

Instances, databases and roles live in the core tables (child resources); the
type keeps no state of its own. The stream exists so that a later table of
the type (``postgres_*``) arrives as a revision of its own.

Revision ID: postgres_0001
Revises:
"""

revision = "postgres_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to create."""


def downgrade() -> None:
    """Nothing to drop."""
