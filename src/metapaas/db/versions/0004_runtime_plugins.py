"""plugins installed at run time

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 14:00:00

Plugins installed through the API, their wheelhouses and wheel bytes (so every
replica and node installs the same bytes), the control-plane processes and
what each has loaded; a node records the plugin version it runs; an operation
now names an instance or a plugin.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "plugins",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("candidate", sa.String(length=64), nullable=False),
        sa.Column("taken_request", sa.Integer(), nullable=False),
        sa.Column("promoted_request", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("wheelhouse", sa.String(length=64), nullable=False),
        sa.Column("types", JSON, nullable=False),
        sa.Column("purge", sa.Boolean(), nullable=False),
        sa.Column("claimed_by", sa.String(length=300), nullable=False),
        sa.Column("claimed_until", WHEN, nullable=True),
        sa.Column("due_at", WHEN, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_plugins")),
    )
    op.create_table(
        "plugin_wheelhouses",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("distribution", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("files", JSON, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_plugin_wheelhouses")),
    )
    op.create_table(
        "plugin_files",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_plugin_files")),
    )
    op.create_table(
        "control_plane_processes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("wheelhouses", JSON, nullable=False),
        sa.Column("load_error", sa.Text(), nullable=False),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("seen_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_control_plane_processes")),
    )
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(
            sa.Column("software", sa.String(length=300), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("wheelhouse", sa.String(length=64), nullable=False, server_default="")
        )
    with op.batch_alter_table("operations") as batch:
        batch.alter_column("instance_id", existing_type=sa.String(length=36), nullable=True)
        batch.alter_column("project_id", existing_type=sa.String(length=36), nullable=True)
        batch.add_column(sa.Column("plugin_name", sa.String(length=200), nullable=True))
        batch.create_index(batch.f("ix_operations_plugin_name"), ["plugin_name"], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM operations WHERE instance_id IS NULL")
    with op.batch_alter_table("operations") as batch:
        batch.drop_index(batch.f("ix_operations_plugin_name"))
        batch.drop_column("plugin_name")
        batch.alter_column("project_id", existing_type=sa.String(length=36), nullable=False)
        batch.alter_column("instance_id", existing_type=sa.String(length=36), nullable=False)
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("wheelhouse")
        batch.drop_column("software")
    op.drop_table("control_plane_processes")
    op.drop_table("plugin_files")
    op.drop_table("plugin_wheelhouses")
    op.drop_table("plugins")
