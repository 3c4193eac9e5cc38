"""Placement pins: where a project's or a type's new nodes go, the provider's routing hook.

A pin names a provider (``local``, ``ssh``, or one of another distribution)
and, for a provider with hosts, a pool: the labels a host must have. A
project's pin wins over its type's; with neither, the server's default
provider places. Nodes that exist stay where they are: a pin applies to nodes
made or replaced after it (the runtime's routing).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session, sessionmaker

from metapaas.providers import PROJECT, TYPE, Route
from metapaas_ssh.tables import Pin, PinScope

LABELS = ((PinScope.PROJECT, PROJECT), (PinScope.TYPE, TYPE))
"""Which node label each scope of pin reads, the project's first."""


def route(sessions: sessionmaker[Session], labels: Mapping[str, str]) -> Route | None:
    """Where a new node with ``labels`` goes by its project's pin, else its type's."""
    with sessions() as session:
        for scope, label in LABELS:
            target = labels.get(label)
            pin = session.get(Pin, (scope, target)) if target else None
            if pin is not None:
                return Route(pin.provider, dict(pin.host_labels))
    return None
