"""the runtime's tables

Revision ID: 0001
Revises:
Create Date: 2026-12-07 17:00:00

Every table of the runtime's own stream: IAM (projects, users, API tokens, role
bindings), instances with their child resources, operations, events and the audit log,
the work queue, the data plane (nodes and their agents' reports, lifecycle commands and
their results, the metadata documents nodes read), the plugins installed at run time
with their wheelhouses and files, the control-plane processes, and backups (repositories,
each instance's place and policy, the catalogue, restores). Types and provider
distributions keep their tables in streams of their own.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = sa.DateTime(timezone=True)
STATE = sa.String(length=16)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.Column("actor_name", sa.String(length=63), nullable=False),
        sa.Column("action", sa.String(length=128), nullable=False),
        sa.Column("target_type", sa.String(length=63), nullable=False),
        sa.Column("target_id", sa.String(length=255), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
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
    op.create_table(
        "paas_types",
        sa.Column("slug", sa.String(length=31), nullable=False),
        sa.Column("distribution", sa.String(length=200), nullable=False),
        sa.Column("distribution_version", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_paas_types")),
    )
    op.create_table(
        "plugin_files",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_plugin_files")),
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
        "projects",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("name", name=op.f("uq_projects_name")),
    )
    op.create_table(
        "work_items",
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("due_at", WHEN, nullable=False),
        sa.Column("requested", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=False),
        sa.Column("claimed_until", WHEN, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_work_items")),
    )
    op.create_index(op.f("ix_work_items_due_at"), "work_items", ["due_at"], unique=False)
    op.create_table(
        "instances",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type_slug", sa.String(length=31), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("sealed_secrets", sa.Text(), nullable=False),
        sa.Column("endpoints", JSON, nullable=False),
        sa.Column("status", STATE, nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("observed_generation", sa.Integer(), nullable=False),
        sa.Column("rolling_to", sa.String(length=64), nullable=False),
        sa.Column("drill_of", sa.String(length=36), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("deleted_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["drill_of"], ["instances.id"], name=op.f("fk_instances_drill_of_instances")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_instances_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instances")),
    )
    op.create_index(op.f("ix_instances_drill_of"), "instances", ["drill_of"], unique=False)
    op.create_index(
        "ix_instances_live_list_order",
        "instances",
        ["type_slug", "created_at", "id"],
        unique=False,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index(op.f("ix_instances_project_id"), "instances", ["project_id"], unique=False)
    op.create_index(op.f("ix_instances_type_slug"), "instances", ["type_slug"], unique=False)
    op.create_index(
        "uq_instances_live_name",
        "instances",
        ["type_slug", "project_id", "name"],
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("default_project_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["default_project_id"],
            ["projects.id"],
            name=op.f("fk_users_default_project_id_projects"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=True),
        sa.Column("last_used_at", WHEN, nullable=True),
        sa.Column("revoked_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_api_tokens_project_id_projects"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"], unique=False)
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("kind", sa.String(length=63), nullable=False),
        sa.Column("node_name", sa.String(length=63), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_events_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_instance_id"), "events", ["instance_id"], unique=False)
    op.create_table(
        "certificate_authorities",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.Column("sealed_key", sa.Text(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_certificate_authorities")),
    )
    op.create_table(
        "metadata_documents",
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("document", JSON, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_metadata_documents_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_metadata_documents")),
    )
    op.create_table(
        "node_commands",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("node_name", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("args", JSON, nullable=False),
        sa.Column("timeout", sa.Double(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("deadline_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("timed_out_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_node_commands_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node_commands")),
    )
    op.create_index(
        op.f("ix_node_commands_instance_id"), "node_commands", ["instance_id"], unique=False
    )
    op.create_index(
        op.f("ix_node_commands_node_name"), "node_commands", ["node_name"], unique=False
    )
    op.create_table(
        "nodes",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=31), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("ports", JSON, nullable=False),
        sa.Column("state", STATE, nullable=False),
        sa.Column("incarnation", sa.Integer(), nullable=False),
        sa.Column("bootstrap_hash", sa.String(length=64), nullable=False),
        sa.Column("bootstrap_expires_at", WHEN, nullable=True),
        sa.Column("reports_from_revision", sa.Integer(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("started_at", WHEN, nullable=True),
        sa.Column("software", sa.String(length=300), nullable=False),
        sa.Column("wheelhouse", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=63), nullable=False),
        sa.Column("evicted", sa.Boolean(), nullable=False),
        sa.Column("tls_certificate", sa.Text(), nullable=False),
        sa.Column("tls_sealed_key", sa.Text(), nullable=False),
        sa.Column("tls_names", JSON, nullable=False),
        sa.Column("tls_issuer", sa.String(length=110), nullable=False),
        sa.Column("tls_renew_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_nodes_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_nodes")),
    )
    op.create_index(op.f("ix_nodes_bootstrap_hash"), "nodes", ["bootstrap_hash"], unique=False)
    op.create_index(op.f("ix_nodes_instance_id"), "nodes", ["instance_id"], unique=False)
    op.create_table(
        "operations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=True),
        sa.Column("project_id", sa.String(length=36), nullable=True),
        sa.Column("plugin_name", sa.String(length=200), nullable=True),
        sa.Column("state", STATE, nullable=False),
        sa.Column("progress", sa.Text(), nullable=False),
        sa.Column("target_generation", sa.Integer(), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["instances.id"], name=op.f("fk_operations_instance_id_instances")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_operations_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operations")),
    )
    op.create_index(op.f("ix_operations_instance_id"), "operations", ["instance_id"], unique=False)
    op.create_index(op.f("ix_operations_plugin_name"), "operations", ["plugin_name"], unique=False)
    op.create_index(op.f("ix_operations_project_id"), "operations", ["project_id"], unique=False)
    op.create_table(
        "resources",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("collection", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("sealed_secrets", sa.Text(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_resources_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resources")),
        sa.UniqueConstraint("instance_id", "collection", "name", name="uq_resources_name"),
    )
    op.create_index(op.f("ix_resources_instance_id"), "resources", ["instance_id"], unique=False)
    op.create_table(
        "role_bindings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_role_bindings_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_role_bindings_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_bindings")),
        sa.UniqueConstraint("user_id", "project_id", name="uq_role_bindings_member"),
    )
    op.create_index(
        op.f("ix_role_bindings_project_id"), "role_bindings", ["project_id"], unique=False
    )
    op.create_table(
        "command_results",
        sa.Column("command_id", sa.String(length=36), nullable=False),
        sa.Column("state", STATE, nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("result", JSON, nullable=True),
        sa.Column("progress", JSON, nullable=True),
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
        sa.Column("state", STATE, nullable=False),
        sa.Column("health", STATE, nullable=False),
        sa.Column("health_since", WHEN, nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("archive", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_node_reports_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["node_name"],
            ["nodes.name"],
            name=op.f("fk_node_reports_node_name_nodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("node_name", name=op.f("pk_node_reports")),
        sa.UniqueConstraint("credential_hash", name=op.f("uq_node_reports_credential_hash")),
    )
    op.create_index(
        op.f("ix_node_reports_instance_id"), "node_reports", ["instance_id"], unique=False
    )

    op.create_table(
        "backup_repositories",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("kind", STATE, nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.String(length=255), nullable=False),
        sa.Column("bucket", sa.String(length=63), nullable=False),
        sa.Column("prefix", sa.String(length=255), nullable=False),
        sa.Column("region", sa.String(length=63), nullable=False),
        sa.Column("access_key_id", sa.String(length=128), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=True),
        sa.Column("sealed_secrets", sa.Text(), nullable=False),
        sa.Column("state", STATE, nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=False),
        sa.Column("checked_at", WHEN, nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_backup_repositories_instance_id_instances"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_repositories")),
        sa.UniqueConstraint("name", name=op.f("uq_backup_repositories_name")),
    )
    op.create_table(
        "backup_places",
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("repository_id", sa.String(length=36), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sealed_key", sa.Text(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_backup_places_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["backup_repositories.id"],
            name=op.f("fk_backup_places_repository_id_backup_repositories"),
        ),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_backup_places")),
    )
    op.create_index(
        op.f("ix_backup_places_repository_id"), "backup_places", ["repository_id"], unique=False
    )
    op.create_table(
        "backup_policies",
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("repository_id", sa.String(length=36), nullable=False),
        sa.Column("schedule", sa.String(length=120), nullable=False),
        sa.Column("retention_count", sa.Integer(), nullable=True),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("continuous", sa.Boolean(), nullable=False),
        sa.Column("verify", sa.String(length=120), nullable=False),
        sa.Column("set_at", WHEN, nullable=False),
        sa.Column("next_backup_at", WHEN, nullable=True),
        sa.Column("next_verify_at", WHEN, nullable=True),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_backup_policies_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["backup_repositories.id"],
            name=op.f("fk_backup_policies_repository_id_backup_repositories"),
        ),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_backup_policies")),
    )
    op.create_index(
        op.f("ix_backup_policies_next_backup_at"),
        "backup_policies",
        ["next_backup_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_backup_policies_next_verify_at"),
        "backup_policies",
        ["next_verify_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_backup_policies_repository_id"), "backup_policies", ["repository_id"], unique=False
    )
    op.create_table(
        "backups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("repository_id", sa.String(length=36), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("node_name", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", STATE, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("depends_on", sa.String(length=200), nullable=False),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("finished_at", WHEN, nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("objects", JSON, nullable=False),
        sa.Column("position", JSON, nullable=False),
        sa.Column("verified_at", WHEN, nullable=True),
        sa.Column("restore_seconds", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_backups_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["backup_repositories.id"],
            name=op.f("fk_backups_repository_id_backup_repositories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backups")),
        sa.UniqueConstraint("instance_id", "label", name=op.f("uq_backups_instance_id")),
    )
    op.create_index(op.f("ix_backups_instance_id"), "backups", ["instance_id"], unique=False)
    op.create_index(op.f("ix_backups_repository_id"), "backups", ["repository_id"], unique=False)
    op.create_table(
        "backup_restores",
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("source_instance_id", sa.String(length=36), nullable=False),
        sa.Column("backup_id", sa.String(length=36), nullable=True),
        sa.Column("point_in_time", WHEN, nullable=True),
        sa.Column("latest", sa.Boolean(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["backup_id"],
            ["backups.id"],
            name=op.f("fk_backup_restores_backup_id_backups"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_backup_restores_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_instance_id"],
            ["instances.id"],
            name=op.f("fk_backup_restores_source_instance_id_instances"),
        ),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_backup_restores")),
    )
    op.create_index(
        op.f("ix_backup_restores_source_instance_id"),
        "backup_restores",
        ["source_instance_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_backup_restores_source_instance_id"), table_name="backup_restores")
    op.drop_table("backup_restores")
    op.drop_index(op.f("ix_backups_repository_id"), table_name="backups")
    op.drop_index(op.f("ix_backups_instance_id"), table_name="backups")
    op.drop_table("backups")
    op.drop_index(op.f("ix_backup_policies_repository_id"), table_name="backup_policies")
    op.drop_index(op.f("ix_backup_policies_next_verify_at"), table_name="backup_policies")
    op.drop_index(op.f("ix_backup_policies_next_backup_at"), table_name="backup_policies")
    op.drop_table("backup_policies")
    op.drop_index(op.f("ix_backup_places_repository_id"), table_name="backup_places")
    op.drop_table("backup_places")
    op.drop_table("backup_repositories")
    op.drop_index(op.f("ix_node_reports_instance_id"), table_name="node_reports")
    op.drop_table("node_reports")
    op.drop_table("command_results")
    op.drop_index(op.f("ix_role_bindings_project_id"), table_name="role_bindings")
    op.drop_table("role_bindings")
    op.drop_index(op.f("ix_resources_instance_id"), table_name="resources")
    op.drop_table("resources")
    op.drop_index(op.f("ix_operations_project_id"), table_name="operations")
    op.drop_index(op.f("ix_operations_plugin_name"), table_name="operations")
    op.drop_index(op.f("ix_operations_instance_id"), table_name="operations")
    op.drop_table("operations")
    op.drop_index(op.f("ix_nodes_instance_id"), table_name="nodes")
    op.drop_index(op.f("ix_nodes_bootstrap_hash"), table_name="nodes")
    op.drop_table("nodes")
    op.drop_index(op.f("ix_node_commands_node_name"), table_name="node_commands")
    op.drop_index(op.f("ix_node_commands_instance_id"), table_name="node_commands")
    op.drop_table("node_commands")
    op.drop_table("metadata_documents")
    op.drop_table("certificate_authorities")
    op.drop_index(op.f("ix_events_instance_id"), table_name="events")
    op.drop_table("events")
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_index(
        "uq_instances_live_name",
        table_name="instances",
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_index(op.f("ix_instances_type_slug"), table_name="instances")
    op.drop_index(op.f("ix_instances_project_id"), table_name="instances")
    op.drop_index(
        "ix_instances_live_list_order",
        table_name="instances",
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_table("instances")
    op.drop_index(op.f("ix_work_items_due_at"), table_name="work_items")
    op.drop_table("work_items")
    op.drop_table("projects")
    op.drop_table("plugins")
    op.drop_table("plugin_wheelhouses")
    op.drop_table("plugin_files")
    op.drop_table("paas_types")
    op.drop_table("control_plane_processes")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("audit_log")
