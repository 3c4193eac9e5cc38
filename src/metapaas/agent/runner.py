"""The agent's loop: register, long-poll metadata in a thread, tick in between.

The long poll runs in its own thread so that a 25 s wait for metadata never
delays a restart, a health check or a heartbeat; the main thread only takes
the newest document it has produced.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import Any

from metapaas.agent.client import AgentClient
from metapaas.agent.node import Node
from metapaas.sdk import PermanentError, PluginError, TemporaryError

LONG_POLL_SECONDS = 25.0
TICK_SECONDS = 0.5
TEMPORARY_RETRY_SECONDS = 2.0
PERMANENT_RETRY_SECONDS = 30.0
"""A refused credential may be fixed on the control plane; asking often would not help."""

log = logging.getLogger(__name__)


class MetadataPoller(threading.Thread):
    """Long-polls ``/v1/agent/metadata`` and queues every newer document."""

    def __init__(self, client: AgentClient, stop: threading.Event) -> None:
        super().__init__(name="metadata-poller", daemon=True)
        self._client = client
        self._stop = stop
        self._documents: queue.Queue[dict[str, Any]] = queue.Queue()

    def run(self) -> None:
        after = 0
        while not self._stop.is_set():
            try:
                document = self._client.metadata(after, LONG_POLL_SECONDS)
            except PluginError as exc:
                log.warning("metadata not fetched: %s", exc)
                self._stop.wait(_retry_delay(exc))
                continue
            if document is not None:
                after = int(document["revision"])
                self._documents.put(document)

    def newest(self, timeout: float) -> dict[str, Any] | None:
        """The newest queued document (older ones are superseded), waiting up to ``timeout``."""
        try:
            document = self._documents.get(timeout=timeout)
        except queue.Empty:
            return None
        while not self._documents.empty():
            document = self._documents.get_nowait()
        return document


def run_agent(url: str, node_dir: Path, stop: threading.Event) -> int:
    """Run the node until ``stop`` is set; returns the process exit code.

    The only exit with an error is a bootstrap token the control plane
    refuses: nothing on the node can fix that.
    """
    client = AgentClient(url, node_dir)
    node = Node(node_dir, client)
    try:
        if not _register(client, stop):
            return 1
        poller = MetadataPoller(client, stop)
        poller.start()
        while not stop.is_set():
            due = node.seconds_to_next_check()
            document = poller.newest(
                timeout=TICK_SECONDS if due is None else min(due, TICK_SECONDS)
            )
            if document is not None:
                node.handle(document)
            node.tick()
    finally:
        node.stop()
        client.close()
    return 0


def _register(client: AgentClient, stop: threading.Event) -> bool:
    """Get a credential, waiting out a control plane that is not reachable yet."""
    while not stop.is_set():
        try:
            client.ensure_registered()
        except TemporaryError as exc:
            log.warning("registration postponed: %s", exc)
            stop.wait(_retry_delay(exc))
        except PermanentError as exc:
            log.error("registration refused: %s", exc)
            return False
        else:
            return True
    return True


def _retry_delay(error: PluginError) -> float:
    if isinstance(error, PermanentError):
        return PERMANENT_RETRY_SECONDS
    return TEMPORARY_RETRY_SECONDS
