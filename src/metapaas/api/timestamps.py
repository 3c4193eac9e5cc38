"""One spelling of time in every response: RFC 3339 in UTC with a ``Z``, as pydantic
writes the typed responses, so a client never meets two formats."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: datetime) -> str:
    """``2026-11-24T17:16:40.123456Z`` of an aware time (the models' ``UTCDateTime``)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
