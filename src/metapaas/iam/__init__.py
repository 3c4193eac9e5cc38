"""Identity and access: projects, users, tokens, roles, permissions and the audit log."""

from metapaas.iam import audit, permissions, tokens
from metapaas.iam.bootstrap import ensure_admin, issue_token
from metapaas.iam.principal import Principal, authenticate, given_bearer, note_use

__all__ = [
    "Principal",
    "audit",
    "authenticate",
    "ensure_admin",
    "given_bearer",
    "issue_token",
    "note_use",
    "permissions",
    "tokens",
]
