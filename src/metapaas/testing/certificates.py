"""The certificate a TLS server presents, read by a real handshake: to check that an
engine serves a renewed one."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from pathlib import Path

from cryptography import x509

CONNECT_SECONDS = 5.0


def served_certificate(
    host: str,
    port: int,
    authority: Path,
    *,
    before_handshake: Callable[[socket.socket], None] | None = None,
) -> x509.Certificate:
    """The certificate the server at ``host:port`` presents, verified against the CA file
    ``authority`` for the name ``host``.

    ``before_handshake`` speaks what the protocol asks in plain text before TLS starts
    (PostgreSQL's SSLRequest); a server that starts with TLS needs none.
    """
    context = ssl.create_default_context(cafile=authority)
    with socket.create_connection((host, port), timeout=CONNECT_SECONDS) as plain:
        if before_handshake is not None:
            before_handshake(plain)
        with context.wrap_socket(plain, server_hostname=host) as wrapped:
            der = wrapped.getpeercert(binary_form=True)
    if der is None:
        raise ssl.SSLError(f"{host}:{port} presented no certificate")
    return x509.load_der_x509_certificate(der)
