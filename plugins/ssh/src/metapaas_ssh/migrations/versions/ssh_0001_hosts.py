"""ssh: the pool's hosts, where its nodes and volumes are, placement pins

The ``ssh`` provider's own stream (version table ``ssh_alembic_version``),
applied by the runtime; every table it makes starts with ``ssh_``.

Revision ID: ssh_0001
Revises:
Create Date: 2026-12-01 12:00:00
"""

import sqlalchemy as sa
from alembic import op

from metapaas.db.columns import JSONDocument

revision = "ssh_0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = JSONDocument
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ssh_hosts",
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
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ssh_hosts")),
    )
    for table, extra in (
        ("ssh_host_nodes", _node_columns()),
        ("ssh_host_volumes", ()),
    ):
        op.create_table(
            table,
            sa.Column("node_name", sa.String(length=63), nullable=False),
            sa.Column("host_name", sa.String(length=63), nullable=False),
            sa.Column("labels", JSON, nullable=False),
            *extra,
            sa.Column("created_at", WHEN, nullable=False),
            sa.ForeignKeyConstraint(
                ["host_name"], ["ssh_hosts.name"], name=op.f(f"fk_{table}_host_name_ssh_hosts")
            ),
            sa.PrimaryKeyConstraint("node_name", name=op.f(f"pk_{table}")),
        )
        op.create_index(op.f(f"ix_{table}_host_name"), table, ["host_name"], unique=False)
    op.create_table(
        "ssh_pins",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=63), nullable=False),
        sa.Column("provider", sa.String(length=63), nullable=False),
        sa.Column("host_labels", JSON, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("scope", "target", name=op.f("pk_ssh_pins")),
    )


def _node_columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("ports", JSON, nullable=False),
        sa.Column("software", sa.String(length=64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ssh_pins")
    for table in ("ssh_host_volumes", "ssh_host_nodes"):
        op.drop_index(op.f(f"ix_{table}_host_name"), table_name=table)
        op.drop_table(table)
    op.drop_table("ssh_hosts")
