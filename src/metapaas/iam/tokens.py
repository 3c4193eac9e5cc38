"""API tokens: random, shown once, kept only as a SHA-256 digest.

A token carries 256 bits of randomness, so a fast unsalted digest is safe to
store and lets a request be authenticated with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "mpt_"  # noqa: S105 (a marker, not a secret)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def display_prefix(token: str) -> str:
    """The first characters, enough for a person to tell tokens apart in a list."""
    return token[: len(TOKEN_PREFIX) + 6]
