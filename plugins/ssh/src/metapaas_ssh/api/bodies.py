"""What admins send: every rule the server enforces is in the OpenAPI schema too.

Generated clients and the console validate what the server validates: the
patterns of names, addresses and labels (a label's key as well as its value), the
bounds of numbers, and strict JSON
types at the boundary (``0`` is no boolean and ``"22"`` no port). Only the
keys' contents (that a private key opens, that a host key is one) are judged
by the server alone; their descriptions say so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

from metapaas.db.columns import INT_MAX
from metapaas.providers.contract import NAME_PATTERN as NAME_PATTERN_OF_PROVIDERS
from metapaas_ssh.remote import check_host_key, check_private_key

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$"
LabelKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9./-]{0,62}$")]
LabelValue = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{0,63}$")]
Labels = Annotated[dict[LabelKey, LabelValue], Field(max_length=64)]
"""A host's labels, and the labels a pin asks a host to have."""


class Capacity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nodes: StrictInt = Field(ge=1, le=10_000, description="Nodes the host may run at once.")
    memory_mb: StrictInt = Field(
        ge=64, le=INT_MAX, description="Memory the host gives nodes, in MB."
    )


class HostBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Unique among hosts.")
    address: str = Field(
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9.:-]+$",
        description="The host's IP address or DNS name, where the control plane reaches it "
        "and where clients reach its nodes.",
    )
    port: StrictInt = Field(default=22, ge=1, le=65535)
    user: str = Field(
        default="root",
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        description="The login: root, or a user that may run `sudo -n`.",
    )
    private_key: str = Field(
        min_length=1,
        max_length=20_000,
        description="The login's private key (OpenSSH or PEM, unencrypted): sealed at rest, "
        "never shown again. The server checks that it opens.",
    )
    host_key: str = Field(
        min_length=1,
        max_length=20_000,
        description="The host's public key (`ssh-ed25519 AAAA...`), pinned: a host "
        "presenting another is refused. The server checks that it is a public key.",
    )
    capacity: Capacity
    labels: Labels = Field(default_factory=dict)
    install_packages: StrictBool = Field(
        default=False,
        description="The host's policy: whether the control plane may install (apt-get) "
        "the Debian packages a type's nodes need. Without it, a host missing them runs no "
        "node of that type.",
    )

    @field_validator("private_key")
    @classmethod
    def _usable_private_key(cls, text: str) -> str:
        _as_format(check_private_key, text)  # its public half is not kept
        return text

    @field_validator("host_key")
    @classmethod
    def _public_host_key(cls, text: str) -> str:
        return _as_format(check_host_key, text)


def _as_format(check: Callable[[str], str], text: str) -> str:
    """``check(text)``; its ``ValueError`` is the rule ``format``: a key the document cannot
    describe by a pattern (it must parse as an SSH key)."""
    try:
        return check(text)
    except ValueError as exc:
        raise PydanticCustomError("format", str(exc)) from exc


class PinBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(
        min_length=1,
        max_length=63,
        pattern=NAME_PATTERN_OF_PROVIDERS,
        description="An installed provider (the server refuses another).",
    )
    host_labels: Labels = Field(
        default_factory=dict,
        description="For a provider with hosts: new nodes go to hosts having every label.",
    )
