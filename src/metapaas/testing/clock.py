"""A clock that moves only when told: timers, backoffs and deadlines without waiting."""

from __future__ import annotations

from datetime import datetime, timedelta

from metapaas.db import models


class FakeClock:
    """Call it for the time; :meth:`advance` moves it. Starts at the real time, so rows
    written with the real clock (defaults) are never in its future."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or models.utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
