"""``python -m metapaas.agent --url URL --dir DIR``: the agent of one data-plane node."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from metapaas.agent.runner import run_agent

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, stop on SIGTERM/SIGINT, run the node's loop."""
    parser = argparse.ArgumentParser(prog="python -m metapaas.agent", description=__doc__)
    parser.add_argument("--url", required=True, help="the control plane's base URL")
    parser.add_argument("--dir", required=True, type=Path, help="the node's directory")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=LOG_FORMAT)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("%s received; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return run_agent(args.url, args.dir.resolve(), stop)


if __name__ == "__main__":
    sys.exit(main())
