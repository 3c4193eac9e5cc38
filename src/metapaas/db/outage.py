"""Which database errors mean "not now" (a 503 and a retry) rather than a bug.

A lost or refused connection, a database that is shutting down or starting,
a lock or a pooled connection not had in time: the request did not happen and
may be sent again. Bad SQL, a broken constraint or a write in a read-only
transaction are bugs and stay errors.
"""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy import exc as sa_exc

from metapaas.errors import Unavailable

_SQLITE_TRANSIENT = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
    }
)
OUTAGE_RETRY_AFTER = 2.0


def outage(error: BaseException) -> Unavailable | None:
    """The 503 that ``error`` stands for, or None when it is no outage."""
    if isinstance(error, Unavailable):
        return error
    if isinstance(error, sa_exc.TimeoutError):
        return Unavailable("the database is busy: no connection came free in time")
    if isinstance(error, sa_exc.DBAPIError) and (
        error.connection_invalidated or _transient(error.orig)
    ):
        return Unavailable("the database does not answer now", retry_after=OUTAGE_RETRY_AFTER)
    return None


def _transient(original: BaseException | None) -> bool:
    if isinstance(original, psycopg.OperationalError):
        return True  # connection failures, shutdowns, lock and statement timeouts
    if isinstance(original, sqlite3.Error):
        code = getattr(original, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_TRANSIENT
    return False


def summary(error: BaseException) -> str:
    """One line saying what went wrong, for a log: the driver's own words, no SQL."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return f"{type(original).__name__}: {lines[0] if lines else ''}"
