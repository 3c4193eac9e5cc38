"""What users send: the instance spec and the two child resources, with their rules.

Every rule here is checked by the API before anything reaches a node, so a
bad identifier is a 422 naming its field, never an SQL error on the server.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError

from metapaas import sdk

IDENTIFIER_PATTERN = r"^[a-z_][a-z0-9_]{0,62}$"
"""Lower case so a name needs no quoting in SQL; 63 bytes is PostgreSQL's NAMEDATALEN - 1."""
PASSWORD_PATTERN = r"^[\x20-\x7e]+$"  # noqa: S105 (a pattern, not a password)
"""Printable ASCII: SASLprep leaves it unchanged, so the SCRAM verifier computed here
is the one PostgreSQL would compute itself."""

ADMIN_ROLE = "admin"
SUPERUSER_ROLE = "metapaas"
"""The cluster's bootstrap superuser, used only by the node-side applier."""
RESERVED_ROLES = frozenset(
    {ADMIN_ROLE, SUPERUSER_ROLE, "postgres", "public", "none"}
    | {"current_user", "current_role", "session_user", "user"}
)
RESERVED_DATABASES = frozenset({"postgres", "template0", "template1"})

Access = Literal["readonly", "readwrite"]


def _not_system_name(name: str) -> str:
    if name.startswith("pg_"):
        raise PydanticCustomError("reserved", "names starting with pg_ are reserved for PostgreSQL")
    return name


def _refuse(reserved: frozenset[str]) -> AfterValidator:
    def check(name: str) -> str:
        if name in reserved:
            listed = ", ".join(sorted(reserved))
            raise PydanticCustomError(
                "reserved",
                "'{name}' is reserved; reserved names: {listed}",
                {"name": name, "listed": listed},
            )
        return name

    return AfterValidator(check)


Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN), AfterValidator(_not_system_name)]
DatabaseName = Annotated[Identifier, _refuse(RESERVED_DATABASES)]
RoleName = Annotated[Identifier, _refuse(RESERVED_ROLES)]


def password_field() -> Any:
    """A password made at create unless given; stored sealed, shown once."""
    return sdk.secret(
        generate=sdk.token(),
        min_length=12,
        max_length=256,
        pattern=PASSWORD_PATTERN,
        description="Printable ASCII, 12 to 256 characters; generated when omitted.",
    )


class PostgresSpec(BaseModel):
    max_connections: int = Field(
        default=100, ge=10, le=5000, description="Needs a server restart to change."
    )
    shared_buffers_mb: int = Field(
        default=128, ge=16, le=65536, description="Needs a server restart to change."
    )
    admin_password: str = password_field()


class DatabaseSpec(BaseModel):
    name: DatabaseName = Field(description="The database name, e.g. shop.")


class Grant(BaseModel):
    database: DatabaseName
    access: Access = "readonly"


class RoleSpec(BaseModel):
    name: RoleName = Field(description="The login role's name, e.g. app.")
    password: str = password_field()
    grants: list[Grant] = Field(
        default_factory=list,
        max_length=100,
        description="Databases the role may use, read-only or read-write.",
    )

    @field_validator("grants")
    @classmethod
    def _one_grant_per_database(cls, grants: list[Grant]) -> list[Grant]:
        names = [grant.database for grant in grants]
        if len(names) != len(set(names)):
            raise PydanticCustomError("unique", "a database may appear in one grant only")
        return grants


DATABASES = sdk.ChildResource("databases", DatabaseSpec, title="Databases")
ROLES = sdk.ChildResource("roles", RoleSpec, title="Login roles and their grants")
