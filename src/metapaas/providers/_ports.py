"""Port allocation for nodes that share one address.

Each port a node needs gets one of its own: the one it had, else one the
kernel finds free on 127.0.0.1 right now that no other node holds. A port's
standard number (``sdk.Port.number``) is never given: the machine's own server
of that engine may hold it, or start later and find it taken.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping

from metapaas.sdk import TemporaryError

ATTEMPTS_PER_PORT = 200


def allocate(
    wanted: Mapping[str, int], have: Mapping[str, int], taken: Iterable[int]
) -> dict[str, int]:
    """A port per name of ``wanted`` (name -> standard number): the one in ``have`` if any,
    else a fresh one clear of ``taken`` and of the standard numbers.

    The caller holds the lock that makes ``taken`` (every other node's ports)
    complete until the result is recorded.
    """
    ports = {name: have[name] for name in wanted if name in have}
    blocked = {*taken, *ports.values(), *wanted.values()}
    for name in wanted:
        if name not in ports:
            ports[name] = _fresh(blocked)
            blocked.add(ports[name])
    return ports


def _fresh(blocked: set[int]) -> int:
    for _ in range(ATTEMPTS_PER_PORT):
        port = _kernel_pick()
        if port not in blocked:
            return port
    raise TemporaryError(f"no free port found in {ATTEMPTS_PER_PORT} attempts")


def _kernel_pick() -> int:
    """A port free on 127.0.0.1 right now, chosen by the kernel."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
