"""Which control plane a client trusts: a CA it was given, or the system's store.

A control plane on a network address serves HTTPS with a certificate of its own
CA, which the client is given once (``metapaas login --ca-file`` or
``--trust-fingerprint``) and keeps with the profile.
"""

from __future__ import annotations

import hashlib
import ssl

import httpx


def verification(ca: str | None) -> ssl.SSLContext | bool:
    """What httpx verifies with: ``ca`` (PEM) alone when given, else the system's store."""
    if not ca:
        return True
    return ssl.create_default_context(cadata=ca)


def fingerprint(certificate_pem: str) -> str:
    """``SHA256:`` and the certificate's DER digest in colon-separated hex, as ``openssl
    x509 -fingerprint -sha256`` and ``metapaas up`` print it."""
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(certificate_pem)).hexdigest().upper()
    return "SHA256:" + ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def offered_authority(url: str, timeout: float = 10.0) -> str:
    """The CA certificate the server at ``url`` hands out, read *without* verifying it:
    only for a person or a pinned fingerprint to judge before anything is sent."""
    answer = httpx.get(f"{url.rstrip('/')}/v1/ca.pem", verify=False, timeout=timeout)  # noqa: S501
    answer.raise_for_status()
    return answer.text


def normal_fingerprint(given: str) -> str:
    """A fingerprint as a person types it (any case, colons or not) in the form above."""
    digits = given.upper().replace(":", "").removeprefix("SHA256")
    return "SHA256:" + ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))
