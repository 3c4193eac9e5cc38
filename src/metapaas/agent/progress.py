"""How far a running command is: what it writes to ``{{ command.progress }}``
(``sdk.StepProgress``), read back while it runs and passed on to be sent.

A step may rewrite the file for every block it copies; the control plane needs a
figure every few seconds. So the file is read only when it changed, and at most once
every :data:`READ_EVERY` seconds once it said something: a stat per poll, one small
read per two seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from metapaas import sdk
from metapaas.agent.supervisor import Clock

READ_EVERY = 2.0
MOST_BYTES = 4096
"""More than any progress record takes; a larger file is not one."""


class ProgressWatch:
    """What the agent does while one command runs: its own periodic work
    (``while_waiting``), then ``on_progress`` with what the command's progress file
    newly says."""

    def __init__(
        self,
        path: Path,
        clock: Clock,
        while_waiting: Callable[[], None] | None,
        on_progress: Callable[[sdk.StepProgress], None] | None,
    ) -> None:
        self.path = path
        self._clock = clock
        self._while_waiting = while_waiting
        self._on_progress = on_progress
        self._next_read = clock()
        self._seen: tuple[int, int, int] | None = None
        self._told: sdk.StepProgress | None = None

    def poll(self) -> None:
        """Called while the command runs."""
        if self._while_waiting is not None:
            self._while_waiting()
        news = self._news()
        if news is not None and self._on_progress is not None:
            self._on_progress(news)

    def tell(self, progress: sdk.StepProgress) -> None:
        """The agent's own part of a step says how far it is, as the step would."""
        sdk.write_private(self.path, progress.model_dump_json())
        self.poll()  # the agent's own part runs no process that would poll

    def _news(self) -> sdk.StepProgress | None:
        """What the file says that it did not say when last read, if it is due to be read
        again; None otherwise. A file that is missing, being written or no progress
        record says nothing: progress never fails a command."""
        now = self._clock()
        if now < self._next_read:
            return None
        try:
            stat = self.path.stat()
            # A rename (sdk.write_private) is a new inode: one change the clock's tick hides.
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if seen == self._seen:
                return None
            self._seen = seen
            with self.path.open("rb") as file:
                progress = sdk.StepProgress.model_validate_json(file.read(MOST_BYTES))
        except (OSError, ValidationError):
            return None
        if progress == self._told:
            return None
        self._told, self._next_read = progress, now + READ_EVERY
        return progress
