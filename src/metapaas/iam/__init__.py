"""Identity and access: projects, users, tokens, roles, permissions and the audit log."""

from metapaas.iam import audit, permissions, tokens
from metapaas.iam.bootstrap import ensure_admin, issue_token
from metapaas.iam.principal import Principal, authenticate

__all__ = [
    "Principal",
    "audit",
    "authenticate",
    "ensure_admin",
    "issue_token",
    "permissions",
    "tokens",
]
