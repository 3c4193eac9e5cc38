"""One writer at a time, in arrival order, for a bounded wait.

SQLite lets one transaction write at a time. Left to itself, a writer that
finds the database locked sleeps and polls (its busy handler), so under load
late comers can overtake early ones and a wait has no order. The process's
writers queue here instead, and a wait that runs out answers 503.
"""

from __future__ import annotations

import threading
from collections import deque

from metapaas.errors import Unavailable


class WriteLock:
    """A FIFO lock; ``release`` hands it to the longest waiter, from any thread."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Event] = deque()

    @property
    def waiting(self) -> int:
        """Writers in the queue now."""
        with self._mutex:
            return len(self._waiters)

    def acquire(self) -> None:
        """Take the lock, or raise :class:`Unavailable` after ``wait`` seconds in the queue."""
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Event()
            self._waiters.append(turn)
        if turn.wait(self.wait):
            return
        with self._mutex:
            if turn.is_set():  # handed over as the wait ran out
                return
            self._waiters.remove(turn)
        raise Unavailable(
            f"the database is busy: no turn to write within {self.wait:g} s", retry_after=1.0
        )

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()  # still held, now by the next in line
            else:
                self._held = False
