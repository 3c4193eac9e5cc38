"""The ``ssh`` provider: nodes on a pool of hosts an admin registers (``/v1/hosts``).

- :mod:`.remote`: SSH sessions with pinned host keys, shared by threads;
- :mod:`.software`: the runtime bundle and plugin versions, sent to hosts;
- :mod:`.placement`: which host takes a node (capacity, labels, volume, spread);
- :mod:`.provider`: the provider contract over the pool;
- :mod:`.monitor`: the host monitor, the one owner of a host's state.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from metapaas.providers.base import ProviderContext
from metapaas.providers.ssh.monitor import HostMonitor
from metapaas.providers.ssh.provider import HostSide, SshProvider
from metapaas.providers.ssh.remote import Remotes, check_host_key, check_private_key
from metapaas.providers.ssh.software import Software

__all__ = [
    "HostMonitor",
    "SshProvider",
    "check_host_key",
    "check_private_key",
    "from_context",
    "host_side",
    "monitor",
]


@functools.cache
def host_side(home: Path) -> HostSide:
    """This process's SSH connections and software shipping, shared by the provider and the
    monitor (one connection per host)."""
    remotes = Remotes()
    return HostSide(remotes, Software(remotes, home))


def from_context(context: ProviderContext) -> SshProvider:
    """The ``ssh`` provider of the ``metapaas.providers`` entry points."""
    return SshProvider(context.sessions, context.sealer, host_side(context.home))


def monitor(
    context: ProviderContext,
    interval: float,
    wakeup: threading.Event,
    packages: Mapping[str, Sequence[str]],
) -> HostMonitor:
    """The monitor of the pool's hosts, checking each every ``interval`` seconds and at once
    when ``wakeup`` is set; ``packages`` are the Debian packages of each type's nodes."""
    return HostMonitor(
        context.sessions,
        context.sealer,
        host_side(context.home),
        interval=interval,
        wakeup=wakeup,
        packages=packages,
    )
