"""hosts of the ssh provider, where its nodes and volumes are, placement pins

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 17:00:00

The ``ssh`` provider's pool of hosts (sealed private key, pinned host key,
capacity, labels, the state its monitor found), where it placed each node and
each node's volume; a node records where it is (its provider's location);
admins' pins of a project's or a type's nodes to a provider and a pool of hosts.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "hosts",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(length=32), nullable=False),
        sa.Column("sealed_private_key", sa.Text(), nullable=False),
        sa.Column("host_key", sa.Text(), nullable=False),
        sa.Column("capacity_nodes", sa.Integer(), nullable=False),
        sa.Column("capacity_memory_mb", sa.Integer(), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("install_packages", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=False),
        sa.Column("facts", JSON, nullable=False),
        sa.Column("draining", sa.Boolean(), nullable=False),
        sa.Column("checked_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_hosts")),
    )
    op.create_table(
        "host_nodes",
        sa.Column("node_name", sa.String(length=63), nullable=False),
        sa.Column("host_name", sa.String(length=63), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("ports", JSON, nullable=False),
        sa.Column("software", sa.String(length=64), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["host_name"], ["hosts.name"], name=op.f("fk_host_nodes_host_name_hosts")
        ),
        sa.PrimaryKeyConstraint("node_name", name=op.f("pk_host_nodes")),
    )
    op.create_table(
        "host_volumes",
        sa.Column("node_name", sa.String(length=63), nullable=False),
        sa.Column("host_name", sa.String(length=63), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["host_name"], ["hosts.name"], name=op.f("fk_host_volumes_host_name_hosts")
        ),
        sa.PrimaryKeyConstraint("node_name", name=op.f("pk_host_volumes")),
    )
    for table in ("host_nodes", "host_volumes"):
        op.create_index(op.f(f"ix_{table}_host_name"), table, ["host_name"], unique=False)
    op.create_table(
        "placement_pins",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=63), nullable=False),
        sa.Column("provider", sa.String(length=63), nullable=False),
        sa.Column("host_labels", JSON, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("scope", "target", name=op.f("pk_placement_pins")),
    )
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
    op.drop_table("placement_pins")
    for table in ("host_volumes", "host_nodes"):
        op.drop_index(op.f(f"ix_{table}_host_name"), table_name=table)
        op.drop_table(table)
    op.drop_table("hosts")
