"""Wake the agents' long-polls when an instance's metadata changes.

In one process, a change wakes its waiters directly. Across replicas on
PostgreSQL, writers also ``NOTIFY metapaas_metadata`` and every replica runs a
listener that wakes its own waiters.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from metapaas import db

log = logging.getLogger(__name__)

CHANNEL = "metapaas_metadata"
CONNECT_TIMEOUT_SECONDS = 5
RETRY_SECONDS = 1.0


class Notifier:
    """Futures keyed by instance id; ``notify`` is safe from any thread."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[None]]] = defaultdict(set)
        self._lock = threading.Lock()
        self._closed = False

    @property
    def watching(self) -> int:
        with self._lock:
            return sum(len(w) for w in self._waiters.values())

    def subscribe(self, key: str) -> asyncio.Future[None]:
        """Register before reading the store, so a change in between is not missed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._closed:  # a draining process: no waiting at all
                future.set_result(None)
            self._waiters[key].add(future)
        return future

    def unsubscribe(self, key: str, future: asyncio.Future[None]) -> None:
        with self._lock:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(future)
                if not waiters:
                    del self._waiters[key]

    def notify(self, key: str) -> None:
        with self._lock:
            futures = list(self._waiters.get(key, ()))
        _wake(futures)

    def notify_all(self) -> None:
        """Wake every waiter: each reads again and waits again if nothing changed."""
        with self._lock:
            futures = [f for waiters in self._waiters.values() for f in waiters]
        _wake(futures)

    def close(self) -> None:
        """Wake every waiter and let no one wait from now on: this process is handing over,
        and each watcher should come back to the one that takes over."""
        with self._lock:
            self._closed = True
        self.notify_all()


def _wake(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        future.get_loop().call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def announce(session: Session, instance_id: str) -> None:
    """Queue a cross-replica wake-up; PostgreSQL delivers it when the transaction commits."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :key)"), {"channel": CHANNEL, "key": instance_id}
        )


class PostgresListener(threading.Thread):
    """Relays ``NOTIFY metapaas_metadata`` from other replicas to this process's notifier.

    A lost connection (the database restarting, a network cut) is retried every
    ``RETRY_SECONDS``; notifications sent meanwhile are lost, so every waiter is woken
    once the listener is back, to read again.
    """

    def __init__(self, engine: Engine, notifier: Notifier) -> None:
        super().__init__(name="metadata-listener", daemon=True)
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._notifier = notifier
        self._halt = threading.Event()
        self._lost = False
        self.listening = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self._listen()
            except psycopg.Error as exc:
                if not self._lost:
                    log.warning(
                        "metadata listener lost the database, retrying every %g s: %s",
                        RETRY_SECONDS,
                        db.summary(exc),
                    )
                self._lost = True
                self.listening.clear()
                self._halt.wait(RETRY_SECONDS)

    def _listen(self) -> None:
        with psycopg.connect(
            self._dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
        ) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            if self._lost:
                log.info("metadata listener is back")
                self._lost = False
            self._notifier.notify_all()
            self.listening.set()
            while not self._halt.is_set():
                for note in connection.notifies(timeout=1.0):
                    self._notifier.notify(note.payload)

    def stop(self) -> None:
        self._halt.set()
