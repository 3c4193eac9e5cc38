"""Run ``weed`` as the node's service, and keep its unix sockets from piling up in /tmp.

    python .../seaweedfs_run.py --port P [--port P ...] -- WEED ARGS...

SeaweedFS always makes some gRPC unix sockets as
``/tmp/seaweedfs-<component>-<port>.sock`` (no flag moves them) and leaves them
behind when it stops. Ports are unique among live nodes, so a socket named
after one of this node's ports is this node's own: it is removed before
``weed`` starts (what a killed run left) and after it exits.

SIGTERM gives ``weed`` a short grace, then SIGKILL: its own shutdown takes over
15 s, and its writes are append-only and survive a kill.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import FrameType

SOCKET_DIR = Path("/tmp")  # noqa: S108 (where weed puts them; we only remove our own)
STOP_GRACE_SECONDS = 2.0


def node_sockets(ports: Iterable[int], directory: Path = SOCKET_DIR) -> list[Path]:
    """The sockets weed made for any of ``ports``."""
    return [path for port in ports for path in directory.glob(f"seaweedfs-*-{port}.sock")]


def remove_sockets(ports: Iterable[int]) -> None:
    for path in node_sockets(ports):
        path.unlink(missing_ok=True)


def run(ports: Sequence[int], argv: Sequence[str]) -> int:
    remove_sockets(ports)
    # weed dies with this process even when it is SIGKILLed (a killed node).
    weed = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--", *argv])
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while weed.poll() is None and not stopping.wait(0.5):
            pass
        if weed.poll() is None:
            _stop(weed)
        return weed.returncode
    finally:
        remove_sockets(ports)


def _stop(weed: subprocess.Popen[bytes]) -> None:
    weed.terminate()
    try:
        weed.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        weed.kill()
        weed.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, action="append", default=[], dest="ports")
    parser.add_argument("weed", nargs=argparse.REMAINDER, help="-- then weed's argv")
    args = parser.parse_args(argv)
    command = args.weed[1:] if args.weed[:1] == ["--"] else args.weed
    if not command:
        parser.error("the weed command line is missing after --")
    return run(args.ports, command)


if __name__ == "__main__":
    sys.exit(main())
