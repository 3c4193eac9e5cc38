"""Wait until the node's S3 port presents the certificate now in its file.

    python -m metapaas_s3.node.certificate --endpoint URL --authority CA --certificate FILE

Run by the agent as the ``tls_reload`` of an engine that rereads a renewed
certificate by itself (SeaweedFS does, on a timer): nothing is signalled, the
command returns once a TLS handshake with the node's address, verified against
the CA, gets the new certificate. So the node reports a renewal applied when
clients see it, and the renewal fails visibly if the engine never takes it.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from metapaas import sdk
from metapaas_s3.node.s3client import RETRY_SECONDS, add_client_arguments

WAIT_SECONDS = 50.0
"""Below the agent's 60 s limit for a reload, so a stuck engine fails this command visibly."""
CONNECT_SECONDS = 3.0


class StillOld(Exception):
    """The port still presents another certificate than the file's (or none yet)."""


def served(endpoint: str, authority: str) -> bytes:
    """The certificate (DER) the server at ``endpoint`` presents, verified against the CA
    file ``authority`` for the endpoint's host."""
    url = urlsplit(endpoint)
    host, port = url.hostname or "", url.port or 443
    context = ssl.create_default_context(cafile=authority)
    with (
        socket.create_connection((host, port), timeout=CONNECT_SECONDS) as connection,
        context.wrap_socket(connection, server_hostname=host) as secured,
    ):
        der = secured.getpeercert(binary_form=True)
    if der is None:
        raise StillOld(f"{endpoint} presented no certificate")
    return der


def _presents(endpoint: str, authority: str, wanted: bytes) -> None:
    if served(endpoint, authority) != wanted:
        raise StillOld(f"{endpoint} still presents its previous certificate")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_client_arguments(parser)
    parser.add_argument("--certificate", type=Path, required=True)
    parser.add_argument("--wait", type=float, default=WAIT_SECONDS)
    args = parser.parse_args(argv)
    wanted = ssl.PEM_cert_to_DER_cert(args.certificate.read_text(encoding="ascii"))
    try:
        sdk.wait_until_ready(
            lambda: _presents(args.endpoint, args.authority, wanted),
            what=f"waiting for {args.endpoint} to present {args.certificate}",
            attempts=max(1, round(args.wait / RETRY_SECONDS)),
            interval=RETRY_SECONDS,
            retry_on=(OSError, StillOld),  # OSError: refused, timed out, or a failed handshake
        )
    except sdk.NotReady as exc:
        raise SystemExit(str(exc)) from exc
    print(f"{args.endpoint} presents {args.certificate}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
