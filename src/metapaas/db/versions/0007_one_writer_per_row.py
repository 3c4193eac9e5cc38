"""one writer per row: the agents' reports and command results in tables of their own

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 10:00:00

A node row was written by the orchestrator and by the agent API, and a command row
by both too. The agent's side moves to ``node_reports`` and ``command_results``,
which only the agent API writes; ``nodes`` and ``node_commands`` keep what the
orchestrator decides. A node gains its ``incarnation`` (a report of another one is
void) and ``reports_from_revision`` (a retry's mark), a command its
``timed_out_at`` mark, an instance the wheelhouse a rollout moves it to. Nothing
was released with the old columns, so their values are not carried over.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    # The tables that reference these two are made after them: on SQLite a batch
    # rebuilds the table, and a referenced table is not rebuilt without its children.
    with op.batch_alter_table("nodes") as batch:
        batch.drop_index("ix_nodes_credential_hash")
        for column in (
            "credential_hash",
            "registered_at",
            "last_seen_at",
            "applied_revision",
            "applied_generation",
            "agent_state",
            "health",
            "unhealthy_since",
            "message",
        ):
            batch.drop_column(column)
        batch.add_column(sa.Column("incarnation", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("reports_from_revision", sa.Integer(), nullable=False, server_default="0")
        )
        batch.create_index("ix_nodes_bootstrap_hash", ["bootstrap_hash"], unique=False)
    with op.batch_alter_table("node_commands") as batch:
        for column in ("state", "exit_code", "output", "finished_at"):
            batch.drop_column(column)
        batch.add_column(sa.Column("timed_out_at", WHEN, nullable=True))
    op.add_column(
        "instances",
        sa.Column("rolling_to", sa.String(length=64), nullable=False, server_default=""),
    )
    op.create_table(
        "node_reports",
        sa.Column("node_name", sa.String(length=63), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("incarnation", sa.Integer(), nullable=False),
        sa.Column("credential_hash", sa.String(length=64), nullable=False),
        sa.Column("registered_at", WHEN, nullable=False),
        sa.Column("last_seen_at", WHEN, nullable=False),
        sa.Column("applied_revision", sa.Integer(), nullable=False),
        sa.Column("applied_generation", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("health", sa.String(length=16), nullable=False),
        sa.Column("health_since", WHEN, nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_name"],
            ["nodes.name"],
            name=op.f("fk_node_reports_node_name_nodes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_node_reports_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("node_name", name=op.f("pk_node_reports")),
        sa.UniqueConstraint("credential_hash", name=op.f("uq_node_reports_credential_hash")),
    )
    op.create_index(
        op.f("ix_node_reports_instance_id"), "node_reports", ["instance_id"], unique=False
    )
    op.create_table(
        "command_results",
        sa.Column("command_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("reported_at", WHEN, nullable=False),
        sa.Column("finished_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["command_id"],
            ["node_commands.id"],
            name=op.f("fk_command_results_command_id_node_commands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("command_id", name=op.f("pk_command_results")),
    )


def downgrade() -> None:
    op.drop_table("command_results")
    op.drop_index(op.f("ix_node_reports_instance_id"), table_name="node_reports")
    op.drop_table("node_reports")
    # Not a batch: on SQLite that would rebuild ``instances`` and cascade to its children.
    op.drop_column("instances", "rolling_to")
    with op.batch_alter_table("node_commands") as batch:
        batch.drop_column("timed_out_at")
        batch.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="pending")
        )
        batch.add_column(sa.Column("exit_code", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("output", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("finished_at", WHEN, nullable=True))
    with op.batch_alter_table("nodes") as batch:
        batch.drop_index("ix_nodes_bootstrap_hash")
        batch.drop_column("reports_from_revision")
        batch.drop_column("incarnation")
        for name, kind, default in (
            ("credential_hash", sa.String(length=64), ""),
            ("applied_revision", sa.Integer(), "0"),
            ("applied_generation", sa.Integer(), "0"),
            ("agent_state", sa.String(length=16), ""),
            ("health", sa.String(length=16), "unknown"),
            ("message", sa.Text(), ""),
        ):
            batch.add_column(sa.Column(name, kind, nullable=False, server_default=default))
        for name in ("registered_at", "last_seen_at", "unhealthy_since"):
            batch.add_column(sa.Column(name, WHEN, nullable=True))
        batch.create_index("ix_nodes_credential_hash", ["credential_hash"], unique=False)
