"""Crash points for the crash-safety tests: count the points as they are reached, and stop
the code under test at the chosen one as a SIGKILL would."""

from __future__ import annotations

from dataclasses import dataclass, field


class Crash(BaseException):
    """The code under test stops where it stands. A BaseException: no ``except Exception``
    in it may swallow it, as nothing survives a SIGKILL."""


@dataclass
class CrashPoints:
    """Counts the points as they are reached and crashes at the ``crash_at``-th (from 0);
    a run with ``crash_at=None`` only counts them, so the points come from the code."""

    crash_at: int | None
    labels: list[str] = field(default_factory=list)

    def reached(self, label: str) -> None:
        self.labels.append(label)
        if len(self.labels) - 1 == self.crash_at:
            raise Crash(label)
