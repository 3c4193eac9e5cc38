"""Port allocation for nodes that share one loopback interface.

SeaweedFS also listens on each HTTP port + 10000 (gRPC), so a port ``p`` is
given only when neither ``p`` nor ``p + 10000`` is any allocated port or any
allocated port + 10000, and both are free on 127.0.0.1 right now. Ports stay
below 55535 so that ``p + 10000`` exists, and the standard ports of the
engines (which this machine's own services may hold) are never given.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping

from metapaas.sdk import TemporaryError

SHADOW_OFFSET = 10_000
PORT_LIMIT = 65_535 - SHADOW_OFFSET
STANDARD_PORTS = frozenset({5432, 6379, 8080, 8333, 9000})
ATTEMPTS_PER_PORT = 200


def allocate(names: Iterable[str], have: Mapping[str, int], taken: Iterable[int]) -> dict[str, int]:
    """A port per name: the one in ``have`` if any, else a fresh one clear of ``taken``.

    The caller holds the lock that makes ``taken`` (every other node's ports)
    complete until the result is recorded.
    """
    ports = {name: have[name] for name in names if name in have}
    blocked = _shadowed([*taken, *ports.values()])
    for name in names:
        if name not in ports:
            ports[name] = _fresh(blocked)
            blocked |= _shadowed([ports[name]])
    return ports


def _shadowed(ports: Iterable[int]) -> set[int]:
    """The ports themselves and their gRPC twins."""
    return {shadow for port in ports for shadow in (port, port + SHADOW_OFFSET)}


def _fresh(blocked: set[int]) -> int:
    for _ in range(ATTEMPTS_PER_PORT):
        port = _kernel_pick()
        pair = {port, port + SHADOW_OFFSET}
        clear = pair.isdisjoint(blocked) and pair.isdisjoint(STANDARD_PORTS)
        if port < PORT_LIMIT and clear and _bindable(port + SHADOW_OFFSET):
            return port
    raise TemporaryError(f"no free port pair found in {ATTEMPTS_PER_PORT} attempts")


def _kernel_pick() -> int:
    """A port free on 127.0.0.1 right now, chosen by the kernel."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _bindable(port: int) -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True
