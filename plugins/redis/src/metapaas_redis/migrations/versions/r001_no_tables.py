"""redis: the start of the type's own migration stream; it creates no table

The redis type keeps everything in the core tables (instances and their
``users`` children); this revision only starts the stream, so a later
revision that needs a ``redis_`` table has a base to build on.

Revision ID: redis001
Revises:
"""

revision = "redis001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to create: see the module docstring."""


def downgrade() -> None:
    """Nothing to drop."""
