"""What a user may ask of a Redis instance and of its ACL users: every rule a 422 names."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError

from metapaas import sdk

MaxmemoryPolicy = Literal[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
]

Persistence = Literal["none", "rdb", "aof"]

Access = Literal["readonly", "readwrite"]

RESERVED_USER_PREFIX = "metapaas"
"""Names the platform keeps for its own ACL users (the node's admin user)."""

KeyPattern = Annotated[
    str,
    Field(
        # Printable ASCII without space and quotes: Redis splits ACL file lines
        # like a shell would, so a quote or blank would change the rule.
        pattern=r"^[!#-&(-~]+$",
        max_length=256,
        description="A Redis glob pattern, e.g. 'app:*'.",
    ),
]


class RedisSpec(BaseModel):
    memory_mb: int = Field(
        default=64, ge=16, le=65536, description="maxmemory in MiB; changed live, no restart."
    )
    maxmemory_policy: MaxmemoryPolicy = Field(
        default="noeviction", description="What Redis evicts when maxmemory is reached."
    )
    persistence: Persistence = Field(
        default="rdb",
        description="none: memory only; rdb: periodic snapshots; aof: append-only file.",
    )
    password: str = sdk.secret(
        generate=sdk.token(),
        min_length=16,
        max_length=512,
        description="The password of the 'default' user; generated when not given.",
    )


class UserSpec(BaseModel):
    name: str = Field(
        pattern=r"^[a-z][a-z0-9_-]{0,62}$",
        description="The Redis ACL user name; not 'default', not starting with 'metapaas'.",
    )
    password: str = sdk.secret(
        generate=sdk.token(), min_length=16, max_length=512, description="Generated when not given."
    )
    keys: list[KeyPattern] = Field(
        min_length=1, max_length=64, description="Key patterns the user may touch."
    )
    access: Access = Field(
        default="readwrite",
        description="readonly: read commands only; readwrite: all but dangerous commands.",
    )

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name == "default" or name.startswith(RESERVED_USER_PREFIX):
            raise PydanticCustomError(
                "reserved",
                "'default' and names starting with 'metapaas' are kept by the platform",
            )
        return name
