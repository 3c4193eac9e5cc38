"""Each node's server certificate: issued once the node has an address, renewed when due.

A node whose role declares a TLS port (``sdk.Port(..., tls=True)``) gets a
certificate for its address and its name, signed by the control plane's CA,
its key sealed on the node's row. Only that node reads them, in its own part
of the metadata (:func:`metapaas.metadata.node_view`): the key is a node-only
secret in every sense. A new address (a node moved), a certificate within
``tls.RENEW_BEFORE`` of its end, or one another CA signed (the operator changed
it) gets a new one; the node's agent writes the
files and runs its type's ``tls_reload``.
"""

from __future__ import annotations

from datetime import datetime

from metapaas import sdk, tls
from metapaas.db import Sealer, models


def names_of(node: models.Node) -> list[str]:
    """What a client may connect to the node by: its address, then its name."""
    return [node.address, node.name] if node.address else []


def due(node: models.Node, authority: tls.Authority, now: datetime) -> bool:
    """Whether the node's certificate is within its renewal window (or past it), or was
    signed by another CA than the one signing now (the operator changed it)."""
    if node.tls_renew_at is None:
        return False
    return now >= node.tls_renew_at or node.tls_issuer != authority.fingerprint


def keep_current(
    node: models.Node,
    group: sdk.NodeGroup,
    authority: tls.Authority,
    sealer: Sealer,
    now: datetime,
) -> bool:
    """Issue the node a certificate when it has none for its names or its is due;
    return whether it got a new one (its metadata must then be republished)."""
    names = names_of(node)
    if not names or not any(port.tls for port in group.ports):
        return False
    if node.tls_certificate and node.tls_names == names and not due(node, authority, now):
        return False
    issued = authority.issue(names, now)
    node.tls_certificate = issued.certificate
    node.tls_sealed_key = sealer.seal({"key": issued.key})
    node.tls_names = list(issued.names)
    node.tls_issuer = authority.fingerprint
    node.tls_renew_at = issued.renew_at
    return True
