"""What a user declares: the instance spec, its buckets and its access keys.

Every rule a single field can judge lives here, so a bad value is a 422
naming the field; rules across resources live in :mod:`metapaas_s3.rules`.
"""

from __future__ import annotations

import ipaddress
import secrets
import string
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from metapaas import sdk

PROBE_BUCKET = "metapaas-health"
"""A bucket of every instance that holds the object health checks read; users cannot name it."""
PROBE_KEY = "probe"
REGION = "us-east-1"
"""Signatures name a region; the engines here accept any, clients are told this one."""

_FORBIDDEN_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_FORBIDDEN_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3")
_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits


def _s3_bucket_rules(name: str) -> str:
    """The S3 naming rules a pattern cannot say (the pattern says length and alphabet)."""
    if ".." in name:
        raise ValueError("must not contain two adjacent periods")
    if name.startswith(_FORBIDDEN_PREFIXES) or name.endswith(_FORBIDDEN_SUFFIXES):
        raise ValueError("uses a prefix or suffix S3 reserves")
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return name
    raise ValueError("must not be formatted as an IP address")


BucketName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        description="S3 bucket name: 3-63 lowercase letters, digits, '-' and '.'.",
    ),
    AfterValidator(_s3_bucket_rules),
]


def new_access_key_id() -> str:
    """20 upper-case letters and digits, the shape of an AWS access key id."""
    return "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(20))


def new_secret_access_key() -> str:
    """40 URL-safe characters, as long as an AWS secret access key."""
    return secrets.token_urlsafe(30)


def new_hex_key() -> str:
    """256 random bits as 64 hex digits: the engine's key-encryption key format."""
    return secrets.token_hex(32)


ACCESS_KEY_ID_PATTERN = r"^[A-Z0-9]{16,32}$"
SECRET_KEY_PATTERN = r"^[A-Za-z0-9_+/=-]{30,64}$"  # noqa: S105 (a pattern, not a secret)
HEX_KEY_PATTERN = r"^[0-9a-f]{64}$"


class S3Spec(BaseModel):
    bucket_name: BucketName | None = sdk.immutable(
        None,
        description=(
            "A bucket created with the instance (optional): a `buckets` resource, which "
            "cannot be deleted while the instance names it."
        ),
    )
    encryption: Literal["none", "aes256"] = Field(
        default="none",
        description=(
            "aes256: every bucket gets default server-side encryption (SSE-S3), so new "
            "objects are stored encrypted. Objects already stored keep their form."
        ),
    )
    admin_access_key_id: str = sdk.secret(
        generate=new_access_key_id,
        pattern=ACCESS_KEY_ID_PATTERN,
        description="The instance's admin key (all buckets); made at create unless given.",
    )
    admin_secret_access_key: str = sdk.secret(
        generate=new_secret_access_key, pattern=SECRET_KEY_PATTERN
    )
    # Node-only: only the engine needs them, and the data on disk depends on them, so
    # no user sets, changes or sees them.
    sse_kek: str = sdk.secret(
        generate=new_hex_key,
        node_only=True,
        pattern=HEX_KEY_PATTERN,
        description="Key-encryption key of server-side encryption (64 hex digits).",
    )
    internal_signing_key: str = sdk.secret(
        generate=new_hex_key,
        node_only=True,
        pattern=HEX_KEY_PATTERN,
        description="Signs the engine's internal requests, closing its inner HTTP ports.",
    )


class BucketSpec(BaseModel):
    name: BucketName
    versioning: bool = Field(
        default=False,
        description=(
            "Keep every version of every object. Turning it off later suspends "
            "versioning (S3 cannot un-version a bucket); stored versions stay."
        ),
    )


class AccessKeySpec(BaseModel):
    name: str = Field(
        pattern=r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", description="Names the key in the API."
    )
    access_key_id: str = sdk.immutable(
        default_factory=new_access_key_id,
        pattern=ACCESS_KEY_ID_PATTERN,
        description="Made at create unless given; visible later, as AWS shows key ids.",
    )
    secret_access_key: str = sdk.secret(
        generate=new_secret_access_key,
        pattern=SECRET_KEY_PATTERN,
        description="Shown once, in the create response.",
    )
    buckets: list[BucketName] = Field(
        min_length=1, max_length=100, description="The buckets this key may use."
    )
    access: Literal["read-only", "read-write"] = Field(
        default="read-only",
        description="read-only: list and get objects; read-write: also put, delete and tag.",
    )
