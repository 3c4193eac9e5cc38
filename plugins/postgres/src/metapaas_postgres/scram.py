"""SCRAM-SHA-256 verifiers (RFC 5802, RFC 7677) in PostgreSQL's ``rolpassword`` format.

Nodes receive verifiers, never passwords. The salt is derived from the
password itself with the same PBKDF2 cost as the verifier, keyed by the
instance and role, so:

- the desired-state file on the node is the same on every rebuild (no config
  churn, no reload) as long as the password is;
- guessing the password from the salt costs as much as from the verifier
  (4096 PBKDF2 rounds per guess), and a precomputed table would be per
  instance and role, i.e. useless.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

ITERATIONS = 4096
"""PostgreSQL's default ``scram_iterations``."""
SALT_BYTES = 16


def derived_salt(password: str, instance_id: str, role: str) -> bytes:
    """A salt that depends only on the password, the instance and the role."""
    context = f"metapaas-postgres-salt:{instance_id}:{role}".encode()
    return hashlib.pbkdf2_hmac("sha256", password.encode(), context, ITERATIONS, SALT_BYTES)


def verifier(password: str, salt: bytes, iterations: int = ITERATIONS) -> str:
    """``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``, as ``pg_authid`` keeps it."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return f"SCRAM-SHA-256${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


def role_verifier(password: str, instance_id: str, role: str) -> str:
    """The verifier a role of an instance gets on the node: stable for a given password."""
    return verifier(password, derived_salt(password, instance_id, role))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
