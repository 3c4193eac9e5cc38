"""Redis ACL entries derived from the spec and the ``users`` children, hashes instead of passwords.

Redis accepts ``#<sha256 hex>`` as a password in an ACL file, so no plaintext
password is ever written on a node.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import TypedDict

from metapaas_redis.spec import Access, UserSpec

DEFAULT_USER_RULES = "~* &* +@all -@admin +config|get"
"""The instance owner's user: every key, channel and command but administration.

The platform owns configuration and ACLs (a CONFIG SET or ACL SETUSER would be
undone by the next reload anyway); CONFIG GET stays allowed for reading them.
"""

ACCESS_RULES: Mapping[Access, str] = {
    "readonly": "-@all +@read +@connection -@dangerous",
    "readwrite": "+@all -@dangerous",
}


class AclEntry(TypedDict):
    """One ``user`` line of the ACL file, as published to the node under ``extra``."""

    name: str
    password_sha256: str
    rules: str


def password_hash(password: str) -> str:
    """The hex SHA-256 Redis compares an ``AUTH`` password against."""
    return hashlib.sha256(password.encode()).hexdigest()


def user_rules(user: UserSpec) -> str:
    """Key patterns (no channels), then the command set of the user's access."""
    keys = " ".join(f"~{pattern}" for pattern in user.keys)
    return f"resetkeys {keys} resetchannels {ACCESS_RULES[user.access]}"


def acl_entries(password: str, users: Iterable[UserSpec]) -> list[AclEntry]:
    """The default user with the instance password, then every child user by name."""
    entries = [
        AclEntry(name="default", password_sha256=password_hash(password), rules=DEFAULT_USER_RULES)
    ]
    for user in sorted(users, key=lambda user: user.name):
        entries.append(
            AclEntry(
                name=user.name, password_sha256=password_hash(user.password), rules=user_rules(user)
            )
        )
    return entries
